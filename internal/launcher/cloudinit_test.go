package launcher

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kdomanski/iso9660"
)

func TestWriteNoCloudISO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.iso")
	userData := "#cloud-config\nusers:\n  - name: cloud\n"
	ci := &CloudInit{InstanceID: "6b1b2a36-0d8c", Hostname: "vm1"}
	if err := WriteNoCloudISO(path, ci, []byte(userData)); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The primary volume descriptor is sector 16; its volume identifier
	// starts at byte 40, padded with spaces to 32 bytes.
	if got := string(raw[32808 : 32808+32]); strings.TrimRight(got, " ") != "cidata" {
		t.Errorf("volume id %q, want cidata", got)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := iso9660.OpenImage(f)
	if err != nil {
		t.Fatal(err)
	}
	if label, err := img.Label(); err != nil || label != "cidata" {
		t.Errorf("label %q, %v", label, err)
	}
	root, err := img.RootDir()
	if err != nil {
		t.Fatal(err)
	}
	children, err := root.GetChildren()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, c := range children {
		b, err := io.ReadAll(c.Reader())
		if err != nil {
			t.Fatal(err)
		}
		files[c.Name()] = string(b)
	}
	if files["user-data"] != userData {
		t.Errorf("user-data = %q", files["user-data"])
	}
	wantMeta := "instance-id: \"6b1b2a36-0d8c\"\nlocal-hostname: vm1\n"
	if files["meta-data"] != wantMeta {
		t.Errorf("meta-data = %q, want %q", files["meta-data"], wantMeta)
	}
	if len(files) != 2 {
		t.Errorf("files %v, want user-data and meta-data only", files)
	}
}

func TestYAMLScalar(t *testing.T) {
	for in, want := range map[string]string{
		"vm1":        "vm1",
		"i-123.x":    "i-123.x",
		"123":        `"123"`,
		"yes":        `"yes"`,
		"a: b":       `"a: b"`,
		"":           `""`,
		"line\nfeed": `"line\nfeed"`,
	} {
		if got := yamlScalar(in); got != want {
			t.Errorf("yamlScalar(%q) = %s, want %s", in, got, want)
		}
	}
}
