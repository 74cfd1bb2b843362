package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// zeros is an endless stream of zeros.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

func spoolDirEmpty(t *testing.T, dir string) {
	t.Helper()
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("scratch directory holds %d entries after the import", len(left))
	}
}

// An endless source of unknown size stops at MaxBytes with ErrTooLarge and
// nothing stays in the scratch directory.
func TestImportEndlessSourceStops(t *testing.T) {
	reg := newTestRegistry(t, "", "")
	dir := t.TempDir()
	z := &zeros{}
	_, err := ImportWithin(importCtx(t), &ReaderSource{R: z}, nil, reg.dest("vi/ns/x", "1"), Scratch{Dir: dir, MaxBytes: 4 * mib, KeepFree: true}, nil)
	mustErr(t, err, ErrTooLarge)
	if Reason(err) != ReasonTooLarge || !strings.Contains(err.Error(), "the source sent more than 4Mi") || !strings.Contains(err.Error(), "import.maxImageSize") {
		t.Errorf("error %q", err)
	}
	if z.n > 8*mib {
		t.Errorf("read %d bytes of an endless source with a 4Mi limit", z.n)
	}
	spoolDirEmpty(t, dir)
	if reg.writes.Load() != 0 {
		t.Errorf("registry writes after a refused import")
	}
}

// A small xz stream that unpacks beyond MaxBytes (a bomb) stops while
// unpacking.
func TestImportXZBombStops(t *testing.T) {
	reg := newTestRegistry(t, "", "")
	dir := t.TempDir()
	bomb := xzBytes(t, make([]byte, 32*mib))
	if len(bomb) > mib {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	_, err := ImportWithin(importCtx(t), &ReaderSource{R: bytes.NewReader(bomb), Size: int64(len(bomb))}, nil, reg.dest("vi/ns/x", "1"), Scratch{Dir: dir, MaxBytes: 4 * mib}, nil)
	mustErr(t, err, ErrTooLarge)
	if !strings.Contains(err.Error(), "unpacks to more than 4Mi") {
		t.Errorf("error %q", err)
	}
	spoolDirEmpty(t, dir)
}

// A source announcing more than MaxBytes is refused before its body is read.
func TestImportAnnouncedTooLarge(t *testing.T) {
	reg := newTestRegistry(t, "", "")
	body := &countingReader{r: bytes.NewReader(make([]byte, 2*mib))}
	_, err := ImportWithin(importCtx(t), &ReaderSource{R: body, Size: 2 * mib}, nil, reg.dest("vi/ns/x", "1"), Scratch{Dir: t.TempDir(), MaxBytes: mib}, nil)
	mustErr(t, err, ErrTooLarge)
	if !strings.Contains(err.Error(), "announces 2Mi") || body.n != 0 {
		t.Errorf("error %q after reading %d bytes", err, body.n)
	}
	// Within the limit the same import works.
	disk := rawDisk(mib)
	if _, err := ImportWithin(importCtx(t), &ReaderSource{R: bytes.NewReader(disk), Size: mib}, nil, reg.dest("vi/ns/x", "1"), Scratch{Dir: t.TempDir(), MaxBytes: mib, KeepFree: true}, nil); err != nil {
		t.Errorf("import of exactly MaxBytes: %v", err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestReserveBytes(t *testing.T) {
	if got := ReserveBytes(1 << 40); got != 1<<30 {
		t.Errorf("reserve of 1Ti = %d", got)
	}
	if got := ReserveBytes(10 << 30); got != 512<<20 {
		t.Errorf("reserve of 10Gi = %d", got)
	}
	// A write that would leave less than the reserve is refused.
	if err := checkFree(t.TempDir(), 1<<62); !errors.Is(err, ErrNoSpace) || Reason(err) != ReasonNoSpace {
		t.Errorf("checkFree of an impossible size: %v", err)
	}
	if err := checkFree(t.TempDir(), 1); err != nil {
		t.Logf("checkFree(1): %v (this machine's disk is nearly full)", err)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{100: "100 bytes", 64 << 20: "64Mi", 256 << 30: "256Gi", 1536: "1.5Ki"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	mk := func(name string, mtime time.Time) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(p, "disk-1.img")
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{f, p} {
			if err := os.Chtimes(q, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("dvp-import-stale", old)
	mk("dvp-import-live", time.Now())
	mk("other-stale", old)
	removed, err := RemoveStale(dir, []string{"dvp-import-*", "dvp-fill-*"}, 10*time.Minute)
	if err != nil || len(removed) != 1 || filepath.Base(removed[0]) != "dvp-import-stale" {
		t.Fatalf("removed %v, %v", removed, err)
	}
	for name, want := range map[string]bool{"dvp-import-stale": false, "dvp-import-live": true, "other-stale": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", name, err == nil, want)
		}
	}
	if removed, err := RemoveStale(filepath.Join(dir, "missing"), []string{"*"}, 0); err != nil || len(removed) != 0 {
		t.Errorf("missing directory: %v %v", removed, err)
	}
}

func TestAddressPolicyCheck(t *testing.T) {
	allowed, err := ParseAllowedAddresses("127.0.0.1:8088, 10.9.0.0/16,::1")
	if err != nil {
		t.Fatal(err)
	}
	p := &AddressPolicy{Local: []netip.Addr{netip.MustParseAddr("10.77.0.2")}, Allowed: allowed}
	for addr, kind := range map[string]string{
		"127.0.0.1:2379":        "loopback",
		"127.0.0.2:80":          "loopback",
		"[::ffff:127.0.0.1]:80": "loopback",
		"169.254.169.254:80":    "link-local",
		"[fe80::1]:80":          "link-local",
		"0.0.0.0:6443":          "unspecified",
		"0.1.2.3:80":            "unspecified",
		"[::]:80":               "unspecified",
		"224.0.0.1:80":          "multicast and broadcast",
		"255.255.255.255:80":    "multicast and broadcast",
		"10.77.0.2:6443":        "the node's own",
		"127.0.0.1:8089":        "loopback",
		"10.77.0.1:80":          "",
		"10.9.3.4:6443":         "",
		"127.0.0.1:8088":        "",
		"[::1]:22":              "",
		"93.184.216.34:443":     "",
	} {
		err := p.Check(netip.MustParseAddrPort(addr))
		var fe *ForbiddenAddressError
		switch {
		case kind == "" && err != nil:
			t.Errorf("%s refused: %v", addr, err)
		case kind != "" && (!errors.As(err, &fe) || fe.Kind != kind || !errors.Is(err, ErrForbiddenAddress)):
			t.Errorf("%s: %v, want a refusal as %s", addr, err, kind)
		}
	}
	err = p.Check(netip.MustParseAddrPort("127.0.0.1:2379"))
	want := "refusing to fetch from 127.0.0.1:2379: loopback addresses are not allowed for image sources; an admin can allow this address in the settings (import.allowedAddresses)"
	if err == nil || err.Error() != want {
		t.Errorf("message %q\nwant      %q", err, want)
	}
	for _, bad := range []string{"localhost", "10.0.0.0/33", "1.2.3.4:0", "example.com:80"} {
		if _, err := ParseAllowedAddress(bad); err == nil {
			t.Errorf("ParseAllowedAddress(%q) accepted", bad)
		}
	}
}

// The policy is applied at dial time: a redirect from an allowed server to a
// loopback address is refused, at once (no retries), with the message.
func TestHTTPSourceRedirectToLoopbackRefused(t *testing.T) {
	secret := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("etcd secrets"))
	}))
	defer secret.Close()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, secret.URL+"/version", http.StatusFound)
	}))
	defer front.Close()
	frontAddr := netip.MustParseAddrPort(strings.TrimPrefix(front.URL, "http://"))
	p := &AddressPolicy{Allowed: []AllowedAddress{{Prefix: netip.PrefixFrom(frontAddr.Addr(), 32), Port: frontAddr.Port()}}}

	src := &HTTPSource{URL: front.URL + "/disk.img", Policy: p, Backoff: time.Hour}
	start := time.Now()
	_, _, _, err := src.Open(context.Background())
	mustErr(t, err, ErrForbiddenAddress)
	if Reason(err) != ReasonForbiddenAddress || !strings.HasPrefix(err.Error(), "refusing to fetch from "+strings.TrimPrefix(secret.URL, "http://")+": loopback") {
		t.Errorf("error %q", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("a refused address was retried")
	}
	// Straight to the loopback server: refused as well.
	_, _, _, err = (&HTTPSource{URL: secret.URL, Policy: p}).Open(context.Background())
	mustErr(t, err, ErrForbiddenAddress)
	// The allowed server itself is reachable.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("disk")) }))
	defer plain.Close()
	pa := netip.MustParseAddrPort(strings.TrimPrefix(plain.URL, "http://"))
	ok := &AddressPolicy{Allowed: []AllowedAddress{{Prefix: netip.PrefixFrom(pa.Addr(), 32), Port: pa.Port()}}}
	rc, _, _, err := (&HTTPSource{URL: plain.URL, Policy: ok}).Open(context.Background())
	if err != nil {
		t.Fatalf("allowed address: %v", err)
	}
	rc.Close()
}

// Registry sources dial through the same policy.
func TestRegistrySourceRefusesLoopback(t *testing.T) {
	reg := newTestRegistry(t, "", "")
	host := strings.TrimPrefix(reg.srv.URL, "https://")
	src := &RegistrySource{Ref: host + "/images/disk:1", CABundle: certPEM(reg.srv), Policy: &AddressPolicy{}}
	_, _, _, err := src.Open(context.Background())
	mustErr(t, err, ErrForbiddenAddress)
	if !strings.Contains(err.Error(), "refusing to fetch from "+host+": loopback") {
		t.Errorf("error %q", err)
	}
}
