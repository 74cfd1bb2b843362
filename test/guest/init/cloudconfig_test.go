package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testHash = "$6$rounds=4096$vln/.aPHBOI7BMYR$bBMkqQvuGs5Gyd/1H5DP4m9HjQSy.kgrxpaGEHwkX7KEFV8BS.HZWPitAtZ2Vd8ZqIZRqmlykRCagTgPejt1i."

func TestParseUserDataUsers(t *testing.T) {
	cfg, err := parseUserData([]byte(`#cloud-config
hostname: from-config
users:
  - default
  - name: cloud
    passwd: "` + testHash + `"
    lock_passwd: false
    shell: /bin/no-such-shell
    sudo: ALL=(ALL) NOPASSWD:ALL
    groups: wheel, video
    ssh_authorized_keys: [ "ssh-ed25519 AAAA one", "ssh-ed25519 BBBB two" ]
  - name: locked
    passwd: "` + testHash + `"
  - alice
chpasswd: {expire: false}
ssh_pwauth: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.ignoredKeys(), ","); got != "chpasswd,ssh_pwauth" {
		t.Errorf("ignored keys %q", got)
	}
	db := buildUsers(cfg)
	// root, nobody, then the config's users; "default" names cloud, which
	// the explicit entry replaces.
	var names []string
	for _, a := range db.accounts {
		names = append(names, a.name)
	}
	if got := strings.Join(names, ","); got != "root,nobody,cloud,locked,alice" {
		t.Fatalf("accounts %s", got)
	}
	cloud := db.account("cloud")
	if cloud.uid != 1000 || cloud.gid != 1000 || cloud.home != "/home/cloud" || cloud.shell != "/bin/sh" || !cloud.sudo {
		t.Errorf("cloud: %+v", cloud)
	}
	if cloud.shadowField() != testHash {
		t.Errorf("cloud's shadow field %q", cloud.shadowField())
	}
	if len(cloud.keys) != 2 {
		t.Errorf("cloud's keys %q", cloud.keys)
	}
	// cloud-init locks passwords unless lock_passwd: false.
	if got := db.account("locked").shadowField(); got != "!"+testHash {
		t.Errorf("locked's shadow field %q", got)
	}
	if a := db.account("alice"); a.uid != 1002 || a.sudo || a.shadowField() != "!" {
		t.Errorf("alice: %+v", a)
	}
	passwd, shadow, group, sudoers := db.render()
	for _, want := range []string{"root:x:0:0:root:/root:/bin/sh\n", "cloud:x:1000:1000::/home/cloud:/bin/sh\n"} {
		if !strings.Contains(passwd, want) {
			t.Errorf("passwd lacks %q:\n%s", want, passwd)
		}
	}
	for _, want := range []string{"root:!::", "cloud:" + testHash + "::"} {
		if !strings.Contains(shadow, want) {
			t.Errorf("shadow lacks %q:\n%s", want, shadow)
		}
	}
	for _, want := range []string{"wheel:x:10:cloud\n", "video:x:2000:cloud\n", "cloud:x:1000:\n"} {
		if !strings.Contains(group, want) {
			t.Errorf("group lacks %q:\n%s", want, group)
		}
	}
	if sudoers != "cloud\n" {
		t.Errorf("sudoers %q", sudoers)
	}
	if uid, gid, err := db.owner("cloud:wheel"); err != nil || uid != 1000 || gid != 10 {
		t.Errorf("owner cloud:wheel = %d:%d %v", uid, gid, err)
	}
	if _, _, err := db.owner("nosuch"); err == nil {
		t.Error("owner nosuch resolved")
	}
	if got := pickHostname(cfg, metaData{LocalHostname: "from-meta"}); got != "from-config" {
		t.Errorf("hostname %q", got)
	}
}

func TestDefaultUser(t *testing.T) {
	cfg, err := parseUserData([]byte("#cloud-config\npassword: secret\nssh_authorized_keys: [k1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	db := buildUsers(cfg)
	a := db.account(defaultUserName)
	if a == nil || a.plain != "secret" || a.locked || len(a.keys) != 1 || !a.sudo {
		t.Fatalf("default user: %+v", a)
	}
	cfg, _ = parseUserData([]byte("#cloud-config\nuser: {name: admin, lock_passwd: false, passwd: x}\n"))
	if a := buildUsers(cfg).account("admin"); a == nil || a.shadowField() != "x" {
		t.Fatalf("renamed default user: %+v", a)
	}
	cfg, _ = parseUserData([]byte("#cloud-config\nusers: []\n"))
	if a := buildUsers(cfg).account(defaultUserName); a != nil {
		t.Fatal("users: [] still made the default user")
	}
}

func TestCommands(t *testing.T) {
	cfg, err := parseUserData([]byte(`#cloud-config
bootcmd: [ "echo early" ]
runcmd:
  - echo "a $((1+1))"
  - [ touch, /tmp/x, 42 ]
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.BootCmd[0].argv(); strings.Join(got, "|") != "/bin/sh|-c|echo early" {
		t.Errorf("bootcmd argv %q", got)
	}
	if got := cfg.RunCmd[0].argv(); strings.Join(got, "|") != `/bin/sh|-c|echo "a $((1+1))"` {
		t.Errorf("runcmd[0] argv %q", got)
	}
	if got := cfg.RunCmd[1].argv(); strings.Join(got, "|") != "touch|/tmp/x|42" {
		t.Errorf("runcmd[1] argv %q", got)
	}
}

func TestWriteFiles(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("zipped\n"))
	zw.Close()
	dir := t.TempDir()
	cfg, err := parseUserData([]byte(`#cloud-config
write_files:
  - path: ` + dir + `/plain
    content: |
      hello
  - path: ` + dir + `/sub/b64
    encoding: b64
    content: ` + base64.StdEncoding.EncodeToString([]byte("decoded")) + `
    permissions: '0600'
  - path: ` + dir + `/gz
    encoding: gz+b64
    content: ` + base64.StdEncoding.EncodeToString(gz.Bytes()) + `
    permissions: 0755
  - path: ` + dir + `/plain
    append: true
    content: more
`))
	if err != nil {
		t.Fatal(err)
	}
	db := buildUsers(&cloudConfig{})
	uid, gid := os.Getuid(), os.Getgid()
	for _, f := range cfg.WriteFiles {
		if uid != 0 {
			// Chown to root needs root; write as ourselves.
			f.Owner = ""
			db.accounts[0].uid, db.accounts[0].gid = uid, gid
		}
		if err := f.write(db); err != nil && uid == 0 {
			t.Fatalf("%s: %v", f.Path, err)
		}
	}
	for name, want := range map[string]string{"plain": "hello\nmore", "sub/b64": "decoded", "gz": "zipped\n"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", name, b, err, want)
		}
	}
	for name, want := range map[string]os.FileMode{"plain": 0o644, "sub/b64": 0o600, "gz": 0o755} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v %v, want %v", name, st.Mode().Perm(), err, want)
		}
	}
}

func TestMetaData(t *testing.T) {
	for _, in := range []string{
		"instance-id: iid-1\nlocal-hostname: vm1.example.org\n",
		`{"instance-id": "iid-1", "local-hostname": "vm1.example.org"}`,
	} {
		md, err := parseMetaData([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if md.InstanceID != "iid-1" || md.LocalHostname != "vm1.example.org" {
			t.Errorf("%q: %+v", in, md)
		}
		if got := pickHostname(&cloudConfig{}, md); got != "vm1" {
			t.Errorf("hostname %q", got)
		}
	}
	if md, _ := parseMetaData([]byte("instance-id: 42\n")); md.InstanceID != "42" {
		t.Errorf("numeric instance-id: %+v", md)
	}
}

func TestSeedDetection(t *testing.T) {
	pvd := make([]byte, 2048)
	pvd[0] = 1
	copy(pvd[1:], "CD001")
	copy(pvd[40:72], "CIDATA                          ")
	if !seedVolumeID(pvd) {
		t.Error("CIDATA not recognised")
	}
	copy(pvd[40:72], "OTHER                           ")
	if seedVolumeID(pvd) {
		t.Error("OTHER recognised")
	}
	for in, want := range map[string]string{"user-data": "user-data", "USER_DATA;1": "user-data", "meta-data.": "meta-data"} {
		if got := normalizeSeedName(in); got != want {
			t.Errorf("normalizeSeedName(%q) = %q", in, got)
		}
	}
}

func TestPowerKey(t *testing.T) {
	ev := make([]byte, inputEventSize)
	binary.LittleEndian.PutUint16(ev[16:], evKey)
	binary.LittleEndian.PutUint16(ev[18:], keyPower)
	binary.LittleEndian.PutUint32(ev[20:], 1)
	if !isPowerKeyDown(ev) {
		t.Error("KEY_POWER press not seen")
	}
	binary.LittleEndian.PutUint32(ev[20:], 0)
	if isPowerKeyDown(ev) {
		t.Error("KEY_POWER release taken for a press")
	}
}

func TestNotCloudConfig(t *testing.T) {
	if _, err := parseUserData([]byte("#include http://example\n")); err == nil {
		t.Error("#include accepted")
	}
	if cfg, err := parseUserData(nil); err != nil || cfg == nil {
		t.Errorf("empty user-data: %v", err)
	}
}
