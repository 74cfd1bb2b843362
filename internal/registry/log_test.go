package registry

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
)

// TestDistributionLogsAreRouted checks that distribution's request logs reach
// Options.Logger; it fails when a new distribution version renames the
// context key log.go relies on.
func TestDistributionLogsAreRouted(t *testing.T) {
	var (
		mu    sync.Mutex
		lines []string
	)
	logger := funcr.New(func(prefix, args string) {
		mu.Lock()
		lines = append(lines, args)
		mu.Unlock()
	}, funcr.Options{Verbosity: vInfo})

	tr := startRegistry(t, func(r *Registry) {
		entry := newLogrusEntry(logger)
		r.logCtx = func(ctx context.Context) context.Context { return withLogrus(ctx, entry) }
	})
	user, pass := Credentials(tr.secret, "vi/ns/x", false)
	req, err := http.NewRequest(http.MethodGet, "https://"+tr.addr+"/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, pass)
	resp, err := (&http.Client{Transport: tr.tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	mu.Lock()
	defer mu.Unlock()
	for _, l := range lines {
		if strings.Contains(l, "response completed") && strings.Contains(l, user) {
			return
		}
	}
	t.Errorf("no request log with the user reached the logger; got %q", lines)
}
