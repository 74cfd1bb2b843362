package netutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultRouteDevice(t *testing.T) {
	for _, tc := range []struct {
		name, table, want string
	}{
		{"default via eth0", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n" +
			"eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
			"eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", "eth0"},
		{"no default route", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n" +
			"dvp0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "route")
			if err := os.WriteFile(p, []byte(tc.table), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := defaultRouteDevice(p); got != tc.want {
				t.Fatalf("defaultRouteDevice = %q, want %q", got, tc.want)
			}
		})
	}
}
