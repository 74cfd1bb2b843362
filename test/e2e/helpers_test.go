package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/virtlab/dvp/test/harness"
)

// headerRE splits kubectl's table header: columns are separated by two or
// more spaces, while a header may hold one ("REGISTRY URL").
var headerRE = regexp.MustCompile(`\s{2,}`)

func tableHeader(out string) []string {
	line, _, _ := strings.Cut(out, "\n")
	return headerRE.Split(strings.TrimSpace(line), -1)
}

// tableRow returns the cells of the row whose first cell is name.
func tableRow(out, name string) []string {
	for _, line := range strings.Split(out, "\n")[1:] {
		cells := headerRE.Split(strings.TrimSpace(line), -1)
		if len(cells) > 0 && cells[0] == name {
			return cells
		}
	}
	return nil
}

// isSubsequence reports whether want appears in got in order, possibly with
// other columns in between.
func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func testdataFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata in %s: %v", dir, err)
	}
	sort.Strings(files)
	return files
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// tableCells reads the row whose NAME is name by the header's column
// positions, so empty cells (an unset INUSE) keep their place.
func tableCells(out, name string) map[string]string {
	lines := strings.Split(out, "\n")
	header := lines[0]
	type col struct {
		name  string
		start int
	}
	var cols []col
	for _, h := range tableHeader(out) {
		from := 0
		if len(cols) > 0 {
			from = cols[len(cols)-1].start + 1
		}
		cols = append(cols, col{h, from + strings.Index(header[from:], h)})
	}
	for _, line := range lines[1:] {
		if !strings.HasPrefix(line, name+" ") {
			continue
		}
		cells := map[string]string{}
		for i, c := range cols {
			end := len(line)
			if i+1 < len(cols) && cols[i+1].start < end {
				end = cols[i+1].start
			}
			if c.start < len(line) {
				cells[c.name] = strings.TrimSpace(line[c.start:end])
			}
		}
		return cells
	}
	return nil
}

// serveFiles serves dir over HTTP inside the platform's network namespace
// until the test ends and returns the base URL.
func serveFiles(t *testing.T, srv *harness.Server, dir string) string {
	t.Helper()
	l := srv.Listen()
	go http.Serve(l, http.FileServer(http.Dir(dir))) //nolint:errcheck // ends with the listener
	t.Cleanup(func() { l.Close() })
	return "http://" + l.Addr().String()
}
