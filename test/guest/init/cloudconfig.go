package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// cloudConfig is the part of #cloud-config the tiny guest applies. Keys it
// does not know are listed on the console and otherwise ignored.
type cloudConfig struct {
	Hostname          flexString  `json:"hostname"`
	FQDN              flexString  `json:"fqdn"`
	User              *userSpec   `json:"user"`
	Password          flexString  `json:"password"`
	Users             *[]userSpec `json:"users"`
	SSHAuthorizedKeys []string    `json:"ssh_authorized_keys"`
	WriteFiles        []writeFile `json:"write_files"`
	BootCmd           []command   `json:"bootcmd"`
	RunCmd            []command   `json:"runcmd"`
	keys              []string    // every top-level key, for ignoredKeys
}

// knownKeys are applied, or are no-ops here by design (the guest always
// writes /etc/hosts and never keeps a hostname across boots).
var knownKeys = map[string]bool{
	"hostname": true, "fqdn": true, "user": true, "users": true, "password": true,
	"ssh_authorized_keys": true, "write_files": true, "bootcmd": true, "runcmd": true,
	"preserve_hostname": true, "manage_etc_hosts": true, "prefer_fqdn_over_hostname": true,
}

// parseUserData parses #cloud-config text. Empty input is an empty config.
func parseUserData(b []byte) (*cloudConfig, error) {
	cfg := &cloudConfig{}
	if len(bytes.TrimSpace(b)) == 0 {
		return cfg, nil
	}
	if !bytes.HasPrefix(b, []byte("#cloud-config")) {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		return nil, fmt.Errorf("unsupported user-data format (first line %q; want #cloud-config or a #! script)", string(line))
	}
	if err := yaml.Unmarshal(b, cfg); err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err == nil {
		for k := range raw {
			cfg.keys = append(cfg.keys, k)
		}
		sort.Strings(cfg.keys)
	}
	return cfg, nil
}

func (c *cloudConfig) ignoredKeys() []string {
	var out []string
	for _, k := range c.keys {
		if !knownKeys[k] {
			out = append(out, k)
		}
	}
	return out
}

// pickHostname follows cloud-init: the cloud-config's hostname (or the
// first label of its fqdn) wins over the meta-data's local-hostname, of
// which only the first label is used.
func pickHostname(c *cloudConfig, md metaData) string {
	firstLabel := func(s string) string {
		h, _, _ := strings.Cut(s, ".")
		return h
	}
	h := string(c.Hostname)
	if h == "" {
		h = firstLabel(string(c.FQDN))
	}
	if h == "" {
		h = firstLabel(md.LocalHostname)
	}
	if h == "" {
		h = "localhost"
	}
	if len(h) > 64 {
		h = h[:64]
	}
	return h
}

// flexString takes any YAML scalar (hostnames and uids may come as numbers).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v.(type) {
	case map[string]any, []any:
		return fmt.Errorf("want a scalar, got %s", string(b))
	}
	*f = flexString(scalarString(v))
	return nil
}

// stringList takes a list or a comma-separated string.
type stringList []string

func (s *stringList) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = nil
	switch x := v.(type) {
	case nil:
	case string:
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*s = append(*s, p)
			}
		}
	case []any:
		for _, p := range x {
			*s = append(*s, scalarString(p))
		}
	default:
		return fmt.Errorf("want a list or a string, got %s", string(b))
	}
	return nil
}

// sudoRule is true when the user has any sudo rule: a string or a
// non-empty list; false or null means none.
type sudoRule bool

func (s *sudoRule) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		*s = sudoRule(x != "" && !strings.EqualFold(x, "false"))
	case []any:
		*s = sudoRule(len(x) > 0)
	case bool:
		*s = sudoRule(x)
	default:
		*s = false
	}
	return nil
}

// userSpec is one entry of users: the string "default", a bare name, or a
// map.
type userSpec struct {
	Default           bool       `json:"-"`
	Name              string     `json:"name"`
	Gecos             flexString `json:"gecos"`
	Passwd            string     `json:"passwd"`
	HashedPasswd      string     `json:"hashed_passwd"`
	PlainTextPasswd   string     `json:"plain_text_passwd"`
	LockPasswd        *bool      `json:"lock_passwd"`
	Shell             string     `json:"shell"`
	Homedir           string     `json:"homedir"`
	PrimaryGroup      string     `json:"primary_group"`
	Groups            stringList `json:"groups"`
	UID               flexString `json:"uid"`
	System            bool       `json:"system"`
	NoCreateHome      bool       `json:"no_create_home"`
	SSHAuthorizedKeys []string   `json:"ssh_authorized_keys"`
	Sudo              sudoRule   `json:"sudo"`
}

func (u *userSpec) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*u = userSpec{}
		if name == "default" {
			u.Default = true
		} else {
			u.Name = name
		}
		return nil
	}
	type plain userSpec
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*u = userSpec(p)
	return nil
}

// command is a bootcmd/runcmd entry: a string for /bin/sh -c, or a list
// run as is.
type command struct {
	shell string
	args  []string
}

func (c *command) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case string:
		c.shell = x
	case []any:
		for _, a := range x {
			c.args = append(c.args, scalarString(a))
		}
	default:
		return fmt.Errorf("command: want a string or a list, got %s", string(b))
	}
	return nil
}

func (c command) argv() []string {
	if c.args != nil {
		return c.args
	}
	if strings.TrimSpace(c.shell) == "" {
		return nil
	}
	return []string{"/bin/sh", "-c", c.shell}
}

func (c command) String() string {
	if c.args != nil {
		return strings.Join(c.args, " ")
	}
	return c.shell
}

// writeFile is a write_files entry.
type writeFile struct {
	Path        string     `json:"path"`
	Content     flexString `json:"content"`
	Encoding    string     `json:"encoding"`
	Permissions fileMode   `json:"permissions"`
	Owner       string     `json:"owner"`
	Append      bool       `json:"append"`
	Defer       bool       `json:"defer"`
}

// fileMode takes "0644" (octal text) or a number (YAML's 0644 is already
// octal).
type fileMode struct {
	set  bool
	mode os.FileMode
}

func (m *fileMode) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case nil:
		return nil
	case float64:
		m.mode, m.set = os.FileMode(uint32(x))&os.ModePerm, true
	case string:
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(x), "0o"), 8, 32)
		if err != nil {
			return fmt.Errorf("permissions %q: %w", x, err)
		}
		m.mode, m.set = os.FileMode(n)&os.ModePerm, true
	default:
		return fmt.Errorf("permissions: want octal text or a number, got %s", string(b))
	}
	return nil
}

// decode returns the file's bytes per its encoding.
func (f writeFile) decode() ([]byte, error) {
	data := []byte(f.Content)
	enc := strings.ToLower(strings.TrimSpace(f.Encoding))
	switch enc {
	case "", "text/plain":
		return data, nil
	case "b64", "base64":
		return base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	case "gz", "gzip":
		return gunzip(data)
	case "gz+b64", "gz+base64", "gzip+b64", "gzip+base64":
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
		if err != nil {
			return nil, err
		}
		return gunzip(raw)
	}
	return nil, fmt.Errorf("unknown encoding %q", f.Encoding)
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

// write puts the file in place; owner names resolve against db.
func (f writeFile) write(db *userDB) error {
	if f.Path == "" || !filepath.IsAbs(f.Path) {
		return fmt.Errorf("path must be absolute")
	}
	data, err := f.decode()
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if f.Permissions.set {
		mode = f.Permissions.mode
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o755); err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if f.Append {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	out, err := os.OpenFile(f.Path, flags, mode)
	if err != nil {
		return err
	}
	if _, err := out.Write(data); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Path, mode); err != nil {
		return err
	}
	uid, gid, err := db.owner(f.Owner)
	if err != nil {
		return err
	}
	return os.Lchown(f.Path, uid, gid)
}
