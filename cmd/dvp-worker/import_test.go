package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// TestImportCommand runs `dvp-worker import` in-process against a file
// server and a registry, with its files found through DVP_ROOT.
func TestImportCommand(t *testing.T) {
	disk := bytes.Repeat([]byte("raw disk data "), 100000)
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/images/disk.img" {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "disk.img", time.Unix(0, 0), bytes.NewReader(disk))
	}))
	defer files.Close()
	reg := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "https://")

	root := t.TempDir()
	caPath := "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
	if err := os.MkdirAll(filepath.Dir(filepath.Join(root, caPath)), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(root, caPath), ca, 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(env map[string]string) (int, string, map[string]any) {
		t.Helper()
		termLog := filepath.Join(t.TempDir(), "termination-log")
		env["DVP_ROOT"] = root
		env["DVP_TERMINATION_LOG"] = termLog
		env["IMPORTER_DEST_CA_FILE"] = caPath
		if _, set := env["IMPORTER_ALLOWED_ADDRESSES"]; !set {
			env["IMPORTER_ALLOWED_ADDRESSES"] = "127.0.0.1" // the test's servers
		}
		var stdout, stderr bytes.Buffer
		code := runImport(context.Background(), func(k string) string { return env[k] }, &stdout, &stderr)
		b, err := os.ReadFile(termLog)
		if err != nil {
			t.Fatalf("no termination message: %v (stderr %s)", err, stderr.String())
		}
		var msg map[string]any
		if err := json.Unmarshal(b, &msg); err != nil || bytes.Count(bytes.TrimSpace(b), []byte("\n")) != 0 {
			t.Fatalf("termination message %q is not one JSON line: %v", b, err)
		}
		return code, stdout.String(), msg
	}

	code, stdout, msg := run(map[string]string{
		"IMPORTER_SOURCE": "http",
		"IMPORTER_URL":    files.URL + "/images/disk.img",
		"IMPORTER_DEST":   host + "/vi/ns/disk:uid-1",
	})
	if code != 0 {
		t.Fatalf("exit %d: %v", code, msg)
	}
	if msg["format"] != "raw" || msg["storedBytes"] != float64(len(disk)) || msg["unpackedBytes"] != float64(len(disk)) || msg["cdrom"] != false || !strings.HasPrefix(msg["digest"].(string), "sha256:") {
		t.Errorf("result %v", msg)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := strings.Fields(lines[len(lines)-1])
	if len(last) != 5 || last[0] != "progress" || last[1] != "100.0" || last[2] != last[3] {
		t.Errorf("last stdout line %q, want progress 100.0 N N speed", lines[len(lines)-1])
	}

	code, _, msg = run(map[string]string{
		"IMPORTER_SOURCE":  "dvcr",
		"IMPORTER_URL":     host + "/vi/ns/disk:uid-1",
		"IMPORTER_CA_FILE": caPath,
		"IMPORTER_DEST":    host + "/cvi/copy:uid-2",
	})
	if code != 0 || msg["format"] != "raw" || msg["storedBytes"] != float64(len(disk)) {
		t.Errorf("dvcr copy: exit %d, %v", code, msg)
	}

	code, _, msg = run(map[string]string{
		"IMPORTER_SOURCE": "http",
		"IMPORTER_URL":    files.URL + "/images/missing.img",
		"IMPORTER_DEST":   host + "/vi/ns/missing:uid-3",
	})
	if code != 1 || msg["reason"] != "NotFound" || !strings.Contains(msg["error"].(string), "404") {
		t.Errorf("missing file: exit %d, %v", code, msg)
	}

	code, _, msg = run(map[string]string{
		"IMPORTER_SOURCE":    "http",
		"IMPORTER_URL":       files.URL + "/images/disk.img",
		"IMPORTER_CHECKSUMS": "sha256:" + strings.Repeat("0", 64),
		"IMPORTER_DEST":      host + "/vi/ns/bad:uid-4",
	})
	if code != 1 || msg["reason"] != "Checksum" {
		t.Errorf("bad checksum: exit %d, %v", code, msg)
	}

	// The host's own addresses are refused unless allowed, the source
	// registry's too; the message says what an admin can do.
	for _, source := range []map[string]string{
		{"IMPORTER_SOURCE": "http", "IMPORTER_URL": files.URL + "/images/disk.img"},
		{"IMPORTER_SOURCE": "registry", "IMPORTER_URL": host + "/vi/ns/disk:uid-1", "IMPORTER_CA_FILE": caPath},
	} {
		source["IMPORTER_DEST"] = host + "/vi/ns/ssrf:uid-5"
		source["IMPORTER_ALLOWED_ADDRESSES"] = "10.0.0.0/8"
		code, _, msg = run(source)
		if e, _ := msg["error"].(string); code != 1 || msg["reason"] != "AddressNotAllowed" || !strings.Contains(e, "refusing to fetch from 127.0.0.1:") || !strings.Contains(e, "import.allowedAddresses") {
			t.Errorf("%s source on loopback: exit %d, %v", source["IMPORTER_SOURCE"], code, msg)
		}
	}

	// The spool stays within IMPORTER_MAX_BYTES, in IMPORTER_SCRATCH.
	scratch := t.TempDir()
	code, _, msg = run(map[string]string{
		"IMPORTER_SOURCE":    "http",
		"IMPORTER_URL":       files.URL + "/images/disk.img",
		"IMPORTER_DEST":      host + "/vi/ns/big:uid-6",
		"IMPORTER_MAX_BYTES": "1048576",
		"IMPORTER_SCRATCH":   scratch,
	})
	if code != 1 || msg["reason"] != "TooLarge" || !strings.Contains(msg["error"].(string), "announces") {
		t.Errorf("too large: exit %d, %v", code, msg)
	}
	if left, _ := os.ReadDir(scratch); len(left) != 0 {
		t.Errorf("scratch holds %d entries", len(left))
	}

	code, _, msg = run(map[string]string{"IMPORTER_SOURCE": "ftp", "IMPORTER_URL": "x", "IMPORTER_DEST": host + "/a:b"})
	if code != 1 || msg["reason"] != reasonConfig {
		t.Errorf("bad config: exit %d, %v", code, msg)
	}
}

func TestResolvePath(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/ca.crt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ root, p, want string }{
		{"", "/etc/ca.crt", "/etc/ca.crt"},
		{root, "/etc/ca.crt", filepath.Join(root, "etc/ca.crt")},
		{root, "/etc/hostname", "/etc/hostname"},
		{root, "scratch", filepath.Join(root, "scratch")},
		{root, "", ""},
	} {
		if got := resolvePath(tt.root, tt.p); got != tt.want {
			t.Errorf("resolvePath(%q, %q) = %q, want %q", tt.root, tt.p, got, tt.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	p := &progressPrinter{w: &out, total: -1, last: start}
	p.update(500, 1000)
	p.print(start.Add(time.Second))
	p.update(700, -1)
	p.print(start.Add(2 * time.Second))
	want := "progress 50.0 500 1000 500\nprogress - 700 - 200\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// TestImportVolumeCommand runs `dvp-worker import` on the two volume
// layouts of a VirtualDisk as the node runtime presents them: a Block
// volume's file linked at the device path, and a Filesystem thin clone
// linked at its mount path, whose qcow2 names its backing file relative to
// the real volume directory.
func TestImportVolumeCommand(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("qemu-img is not installed (apt-get install qemu-utils); skipping a test that needs it")
	}
	reg := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "https://")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Certificate().Raw})

	data := t.TempDir()
	block := filepath.Join(data, "volumes", "pv-block.img")
	thin := filepath.Join(data, "volumes", "pv-thin")
	cache := filepath.Join(data, "image-cache")
	for _, d := range []string{thin, cache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	disk := bytes.Repeat([]byte("block volume "), 100000)
	disk = disk[:len(disk)/1024*1024]
	if err := os.WriteFile(block, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cache, "sha256-x.raw"), disk, 0o644); err != nil {
		t.Fatal(err)
	}
	create := exec.Command("qemu-img", "create", "-f", "qcow2", "-b", "../../image-cache/sha256-x.raw", "-F", "raw", "disk.qcow2", "4M")
	create.Dir = thin
	if b, err := create.CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, b)
	}

	for _, tt := range []struct {
		mode, link, target, url string
		unpacked                float64
	}{
		{"Block", "/dev/disk-source", block, "/dev/disk-source", float64(len(disk))},
		{"Filesystem", "/data", thin, "/data/disk.qcow2", 4 << 20},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			root := t.TempDir()
			caPath := "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, tt.link)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(tt.target, filepath.Join(root, tt.link)); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(root, caPath)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, caPath), ca, 0o644); err != nil {
				t.Fatal(err)
			}
			termLog := filepath.Join(t.TempDir(), "termination-log")
			env := map[string]string{
				"DVP_ROOT":              root,
				"DVP_TERMINATION_LOG":   termLog,
				"IMPORTER_SOURCE":       "volume",
				"IMPORTER_VOLUME_MODE":  tt.mode,
				"IMPORTER_URL":          tt.url,
				"IMPORTER_DEST":         host + "/vi/ns/from-" + strings.ToLower(tt.mode) + ":uid-1",
				"IMPORTER_DEST_CA_FILE": caPath,
			}
			var stdout, stderr bytes.Buffer
			code := runImport(context.Background(), func(k string) string { return env[k] }, &stdout, &stderr)
			b, _ := os.ReadFile(termLog)
			var msg map[string]any
			_ = json.Unmarshal(b, &msg)
			if code != 0 || msg["format"] != "qcow2" || msg["unpackedBytes"] != tt.unpacked {
				t.Fatalf("exit %d, result %s, stderr %s", code, b, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if last := strings.Fields(lines[len(lines)-1]); len(last) != 5 || last[1] != "100.0" {
				t.Errorf("last progress line %q", lines[len(lines)-1])
			}
		})
	}

	env := map[string]string{"IMPORTER_SOURCE": "volume", "IMPORTER_URL": "/dev/x", "IMPORTER_DEST": host + "/a:b", "DVP_TERMINATION_LOG": filepath.Join(t.TempDir(), "log")}
	var stderr bytes.Buffer
	if code := runImport(context.Background(), func(k string) string { return env[k] }, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "IMPORTER_VOLUME_MODE") {
		t.Errorf("no volume mode: exit %d, %s", code, stderr.String())
	}
}
