package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The default user, like a cloud image's distro user: created when users is
// absent or lists "default". Its password is locked unless the
// cloud-config sets one.
const (
	defaultUserName  = "cloud"
	defaultUserGecos = "Default user"
	fallbackShell    = "/bin/sh"
)

type account struct {
	name, gecos, home, shell string
	uid, gid                 int
	hash                     string // the shadow field, "!..." when locked
	plain                    string // plain_text_passwd, hashed at write time
	locked                   bool
	keys                     []string
	sudo                     bool
	createHome               bool
}

type group struct {
	name    string
	gid     int
	members []string
}

// userDB is the guest's account database, written out as /etc/passwd,
// /etc/shadow and /etc/group.
type userDB struct {
	accounts []*account
	groups   []*group
}

func (db *userDB) account(name string) *account {
	for _, a := range db.accounts {
		if a.name == name {
			return a
		}
	}
	return nil
}

func (db *userDB) group(name string) *group {
	for _, g := range db.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

func (db *userDB) uidUsed(uid int) bool {
	for _, a := range db.accounts {
		if a.uid == uid {
			return true
		}
	}
	return false
}

func (db *userDB) gidUsed(gid int) bool {
	for _, g := range db.groups {
		if g.gid == gid {
			return true
		}
	}
	return false
}

// ensureGroup returns the group, creating it with a free gid (from
// preferred up) when missing.
func (db *userDB) ensureGroup(name string, preferred int) *group {
	if g := db.group(name); g != nil {
		return g
	}
	gid := preferred
	for db.gidUsed(gid) {
		gid++
	}
	g := &group{name: name, gid: gid}
	db.groups = append(db.groups, g)
	return g
}

// defaultUserSpec is the default user with the top-level user, password and
// ssh_authorized_keys applied.
func defaultUserSpec(c *cloudConfig) userSpec {
	u := userSpec{Name: defaultUserName, Gecos: defaultUserGecos, Sudo: true}
	if c.User != nil {
		o := *c.User
		if o.Name != "" {
			u.Name = o.Name
		}
		if o.Gecos != "" {
			u.Gecos = o.Gecos
		}
		for _, s := range []struct{ dst, src *string }{
			{&u.Passwd, &o.Passwd}, {&u.HashedPasswd, &o.HashedPasswd}, {&u.PlainTextPasswd, &o.PlainTextPasswd},
			{&u.Shell, &o.Shell}, {&u.Homedir, &o.Homedir}, {&u.PrimaryGroup, &o.PrimaryGroup},
		} {
			if *s.src != "" {
				*s.dst = *s.src
			}
		}
		if o.LockPasswd != nil {
			u.LockPasswd = o.LockPasswd
		}
		if o.UID != "" {
			u.UID = o.UID
		}
		u.Groups = append(u.Groups, o.Groups...)
		u.SSHAuthorizedKeys = append(u.SSHAuthorizedKeys, o.SSHAuthorizedKeys...)
	}
	if c.Password != "" {
		u.PlainTextPasswd = string(c.Password)
		unlocked := false
		u.LockPasswd = &unlocked
	}
	u.SSHAuthorizedKeys = append(u.SSHAuthorizedKeys, c.SSHAuthorizedKeys...)
	return u
}

// buildUsers turns the cloud-config into accounts. Root is always there
// with a locked password.
func buildUsers(c *cloudConfig) *userDB {
	db := &userDB{
		accounts: []*account{
			{name: "root", uid: 0, gid: 0, gecos: "root", home: "/root", shell: fallbackShell, locked: true, createHome: true},
			{name: "nobody", uid: 65534, gid: 65534, gecos: "nobody", home: "/nonexistent", shell: "/bin/false", locked: true},
		},
		groups: []*group{
			{name: "root", gid: 0}, {name: "tty", gid: 5}, {name: "disk", gid: 6},
			{name: "wheel", gid: 10}, {name: "sudo", gid: 27}, {name: "users", gid: 100},
			{name: "nogroup", gid: 65534},
		},
	}
	specs := []userSpec{{Default: true}}
	if c.Users != nil {
		specs = *c.Users
	}
	// A named entry for the default user's name replaces "default".
	named := map[string]bool{}
	for _, s := range specs {
		if !s.Default {
			named[s.Name] = true
		}
	}
	nextUID, nextSysUID := 1000, 500
	for _, s := range specs {
		if s.Default {
			s = defaultUserSpec(c)
			if named[s.Name] {
				continue
			}
		}
		if s.Name == "" {
			logf("users: entry without a name, skipped")
			continue
		}
		if db.account(s.Name) != nil {
			logf("users: %s listed twice; keeping the first", s.Name)
			continue
		}
		a := &account{name: s.Name, gecos: string(s.Gecos), sudo: bool(s.Sudo), createHome: !s.NoCreateHome}
		if n, err := strconv.Atoi(string(s.UID)); err == nil && s.UID != "" {
			a.uid = n
		} else {
			if s.UID != "" {
				logf("users: %s: uid %q is not a number; picking one", s.Name, s.UID)
			}
			next := &nextUID
			if s.System {
				next = &nextSysUID
			}
			for db.uidUsed(*next) {
				*next++
			}
			a.uid = *next
			*next++
		}
		// Primary group: the named one, else a group of the user's name.
		pg := s.PrimaryGroup
		if pg == "" {
			pg = s.Name
		}
		a.gid = db.ensureGroup(pg, a.uid).gid
		for _, gname := range s.Groups {
			g := db.ensureGroup(gname, 2000)
			g.members = append(g.members, s.Name)
		}
		a.home = s.Homedir
		if a.home == "" {
			a.home = "/home/" + s.Name
		}
		a.shell = s.Shell
		if a.shell == "" {
			a.shell = fallbackShell
		}
		if _, err := os.Stat(a.shell); err != nil {
			logf("users: %s: shell %s not in this guest; using %s", s.Name, a.shell, fallbackShell)
			a.shell = fallbackShell
		}
		switch {
		case s.HashedPasswd != "":
			a.hash = s.HashedPasswd
		case s.Passwd != "":
			a.hash = s.Passwd
		case s.PlainTextPasswd != "":
			a.plain = s.PlainTextPasswd
		}
		// cloud-init locks passwords unless told otherwise.
		a.locked = s.LockPasswd == nil || *s.LockPasswd
		a.keys = s.SSHAuthorizedKeys
		db.accounts = append(db.accounts, a)
	}
	return db
}

// shadowField is the password field of /etc/shadow.
func (a *account) shadowField() string {
	h := a.hash
	if a.locked {
		return "!" + h
	}
	if h == "" {
		return "*"
	}
	return h
}

// write writes the account files, the home directories with their
// authorized_keys, and the sudo list our sudo helper reads. Plain-text
// passwords are hashed (SHA-512 crypt) with busybox mkpasswd.
func (db *userDB) write(r *reaper) error {
	for _, a := range db.accounts {
		if a.plain == "" || a.hash != "" {
			continue
		}
		out, err := r.output([]string{"/usr/bin/mkpasswd", "-m", "sha512", "-P", "0"}, a.plain+"\n")
		if err != nil {
			logf("users: hashing the password of %s: %v", a.name, err)
			continue
		}
		a.hash = strings.TrimSpace(out)
	}
	passwd, shadow, grp, sudoers := db.render()
	if err := os.MkdirAll("/etc/dvp-tiny", 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data string
		mode os.FileMode
	}{
		{"/etc/passwd", passwd, 0o644},
		{"/etc/group", grp, 0o644},
		{"/etc/shadow", shadow, 0o600},
		{sudoersFile, sudoers, 0o644},
	} {
		if err := os.WriteFile(f.path, []byte(f.data), f.mode); err != nil {
			return err
		}
		if err := os.Chmod(f.path, f.mode); err != nil {
			return err
		}
	}
	for _, a := range db.accounts {
		if err := a.makeHome(); err != nil {
			logf("users: %s: %v", a.name, err)
		}
	}
	return nil
}

// render produces /etc/passwd, /etc/shadow, /etc/group and the sudo list.
func (db *userDB) render() (passwd, shadow, grp, sudoers string) {
	var p, s, g, su strings.Builder
	for _, a := range db.accounts {
		fmt.Fprintf(&p, "%s:x:%d:%d:%s:%s:%s\n", a.name, a.uid, a.gid, a.gecos, a.home, a.shell)
		fmt.Fprintf(&s, "%s:%s::0:99999:7:::\n", a.name, a.shadowField())
		if a.sudo && a.uid != 0 {
			fmt.Fprintln(&su, a.name)
		}
	}
	groups := append([]*group(nil), db.groups...)
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].gid < groups[j].gid })
	for _, gr := range groups {
		fmt.Fprintf(&g, "%s:x:%d:%s\n", gr.name, gr.gid, strings.Join(gr.members, ","))
	}
	return p.String(), s.String(), g.String(), su.String()
}

func (a *account) makeHome() error {
	if !a.createHome {
		return nil
	}
	if err := os.MkdirAll(a.home, 0o755); err != nil {
		return err
	}
	if a.uid != 0 {
		if err := os.Chmod(a.home, 0o750); err != nil {
			return err
		}
	}
	if err := os.Chown(a.home, a.uid, a.gid); err != nil {
		return err
	}
	if len(a.keys) == 0 {
		return nil
	}
	ssh := filepath.Join(a.home, ".ssh")
	if err := os.MkdirAll(ssh, 0o700); err != nil {
		return err
	}
	keys := filepath.Join(ssh, "authorized_keys")
	if err := os.WriteFile(keys, []byte(strings.Join(a.keys, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	for _, p := range []string{ssh, keys} {
		if err := os.Chown(p, a.uid, a.gid); err != nil {
			return err
		}
	}
	return nil
}

// owner resolves a write_files owner ("user", "user:group", numbers too);
// empty means root.
func (db *userDB) owner(spec string) (uid, gid int, err error) {
	if spec == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, gid = -1, -1
	if a := db.account(u); a != nil {
		uid, gid = a.uid, a.gid
	} else if n, e := strconv.Atoi(u); e == nil {
		uid, gid = n, n
	} else {
		return 0, 0, fmt.Errorf("owner %q: no such user", spec)
	}
	if hasGroup {
		if gr := db.group(g); gr != nil {
			gid = gr.gid
		} else if n, e := strconv.Atoi(g); e == nil {
			gid = n
		} else {
			return 0, 0, fmt.Errorf("owner %q: no such group", spec)
		}
	}
	return uid, gid, nil
}
