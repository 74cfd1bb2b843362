package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestImportHTTPErrors(t *testing.T) {
	fs := newFileServer(t, map[string][]byte{"disk.img": rawDisk(mib)})
	reg := newTestRegistry(t, "", "")

	_, err := Import(importCtx(t), fs.source("missing.img"), nil, reg.dest("vi/ns/x", "1"), t.TempDir(), nil)
	mustErr(t, err, ErrNotFound)
	if Reason(err) != ReasonNotFound || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}

	// Without the CA bundle the certificate is unknown: permanent, so it
	// fails at once instead of after the retries.
	src := fs.source("disk.img")
	src.CABundle = nil
	src.Backoff = time.Hour
	start := time.Now()
	if _, err := Import(importCtx(t), src, nil, reg.dest("vi/ns/x", "1"), t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("an unknown CA was retried (%v)", d)
	}
	if reg.writes.Load() != 0 {
		t.Errorf("registry writes after failed downloads")
	}
}

func TestImportResumes(t *testing.T) {
	raw := rawDisk(3 * mib)
	for _, tt := range []struct {
		name     string
		noRanges bool
	}{{"range", false}, {"restart without range support", true}} {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFileServer(t, map[string][]byte{"disk.img": raw})
			fs.dropOnce, fs.noRanges = true, tt.noRanges
			reg := newTestRegistry(t, "", "")
			dst := reg.dest("vi/ns/resume", "1")
			sha := sha256.Sum256(raw)
			res, err := Import(importCtx(t), fs.source("disk.img"), Checksums{"sha256": hex.EncodeToString(sha[:])}, dst, t.TempDir(), nil)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if res.SourceBytes != int64(len(raw)) {
				t.Errorf("SourceBytes %d, want %d", res.SourceBytes, len(raw))
			}
			checkPushed(t, reg, dst, res, "disk.img", raw)
			fs.mu.Lock()
			defer fs.mu.Unlock()
			if fs.count != 2 || len(fs.ranges) != 1 || !strings.HasPrefix(fs.ranges[0], "bytes=") || fs.ranges[0] == "bytes=0-" {
				t.Errorf("%d requests with ranges %q, want 2 and one Range from the byte reached", fs.count, fs.ranges)
			}
		})
	}
}

func TestHTTPSourceStall(t *testing.T) {
	raw := rawDisk(mib)
	var first = make(chan struct{})
	var once bool
	srv := newFileServer(t, nil)
	srv.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !once {
			once = true
			w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
			w.Header().Set("Accept-Ranges", "bytes")
			_, _ = w.Write(raw[:1000])
			w.(http.Flusher).Flush()
			close(first)
			<-r.Context().Done() // hang until the client gives up
			return
		}
		http.ServeContent(w, r, "disk.img", time.Unix(0, 0), bytes.NewReader(raw))
	})
	src := srv.source("disk.img")
	src.StallTimeout = 200 * time.Millisecond
	rc, size, name, err := src.Open(importCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, raw) || size != int64(len(raw)) || name != "disk.img" {
		t.Fatalf("read %d bytes, err %v, size %d, name %q", len(got), err, size, name)
	}
	<-first
}
