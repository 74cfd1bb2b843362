package launcher

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/kdomanski/iso9660"
)

// NoCloudVolumeID is the volume label cloud-init looks for.
const NoCloudVolumeID = "cidata"

// WriteNoCloudISO writes a cloud-init NoCloud seed to path: an ISO 9660
// image labelled cidata holding user-data (userData as given) and
// meta-data (instance-id and local-hostname from ci). The file is created
// with mode 0600 and replaced atomically.
func WriteNoCloudISO(path string, ci *CloudInit, userData []byte) error {
	if ci == nil {
		return fmt.Errorf("cloud-init seed: no cloud-init configuration")
	}
	w, err := iso9660.NewWriter()
	if err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	defer func() { _ = w.Cleanup() }()
	var meta bytes.Buffer
	fmt.Fprintf(&meta, "instance-id: %s\n", yamlScalar(ci.InstanceID))
	if ci.Hostname != "" {
		fmt.Fprintf(&meta, "local-hostname: %s\n", yamlScalar(ci.Hostname))
	}
	if err := w.AddFile(bytes.NewReader(userData), "user-data"); err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	if err := w.AddFile(&meta, "meta-data"); err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".cidata-*")
	if err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := w.WriteTo(f, NoCloudVolumeID); err != nil {
		_ = f.Close()
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cloud-init seed: %w", err)
	}
	return nil
}

var plainYAML = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._/-]*$`)

// yamlScalar writes s as a YAML scalar: plain when that is unambiguous,
// else double-quoted (a JSON string is a valid YAML one).
func yamlScalar(s string) string {
	if plainYAML.MatchString(s) && !ambiguousYAML[s] {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// ambiguousYAML are plain words YAML would read as something other than a
// string.
var ambiguousYAML = map[string]bool{
	"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true,
	"null": true, "True": true, "False": true, "Yes": true, "No": true, "On": true,
	"Off": true, "Null": true, "NULL": true, "TRUE": true, "FALSE": true, "YES": true, "NO": true, "ON": true, "OFF": true,
}
