package storage

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestRoundCapacity(t *testing.T) {
	for _, tc := range []struct {
		request string
		want    string
		bytes   int64
		wantErr bool
	}{
		// The reference platform prints a 100M disk as 97657Ki.
		{request: "100M", want: "97657Ki", bytes: 97657 * 1024},
		{request: "200M", want: "195313Ki", bytes: 195313 * 1024},
		{request: "1", want: "1Ki", bytes: 1024},
		{request: "1Ki", want: "1Ki", bytes: 1024},
		{request: "1025", want: "2Ki", bytes: 2048},
		{request: "0.5", want: "1Ki", bytes: 1024},
		{request: "10Gi", want: "10Gi", bytes: 10 << 30},
		{request: "1G", want: "976563Ki", bytes: 976563 * 1024},
		{request: "7Ei", want: "7Ei", bytes: 7 << 60},
		{request: "0", wantErr: true},
		{request: "-1Ki", wantErr: true},
		{request: "8Ei", wantErr: true},
		{request: "100E", wantErr: true},
	} {
		t.Run(tc.request, func(t *testing.T) {
			q, n, err := RoundCapacity(resource.MustParse(tc.request))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("RoundCapacity(%s) = %s, want an error", tc.request, q.String())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.String() != tc.want || n != tc.bytes {
				t.Errorf("RoundCapacity(%s) = %s (%d bytes), want %s (%d bytes)", tc.request, q.String(), n, tc.want, tc.bytes)
			}
			if q.Value() != n {
				t.Errorf("quantity %s is %d bytes, size says %d", q.String(), q.Value(), n)
			}
		})
	}
}
