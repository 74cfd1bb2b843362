package registry

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/auth"
)

func access(typ, name, action string) auth.Access {
	return auth.Access{Resource: auth.Resource{Type: typ, Name: name}, Action: action}
}

func TestAccessController(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ac := &accessController{secret: secret}
	const repo = "vi/vms/ubuntu"
	pullU, pullP := Credentials(secret, repo, false)
	pushU, pushP := Credentials(secret, repo, true)
	adminU, adminP := AdminCredentials(secret)

	pull := access("repository", repo, "pull")
	push := access("repository", repo, "push")
	del := access("repository", repo, "delete")
	otherPull := access("repository", "vi/vms/other", "pull")
	prefixPull := access("repository", "vi/vms/ubuntu2", "pull")
	catalog := access("registry", "catalog", "*")

	for _, tc := range []struct {
		name       string
		user, pass string // "" user: no Authorization header
		access     []auth.Access
		ok         bool
	}{
		{"anonymous ping", "", "", nil, false},
		{"anonymous pull", "", "", []auth.Access{pull}, false},
		{"pull ping", pullU, pullP, nil, true},
		{"pull pull", pullU, pullP, []auth.Access{pull}, true},
		{"pull push", pullU, pullP, []auth.Access{pull, push}, false},
		{"pull other", pullU, pullP, []auth.Access{otherPull}, false},
		{"pull prefix", pullU, pullP, []auth.Access{prefixPull}, false},
		{"push pull", pushU, pushP, []auth.Access{pull}, true},
		{"push push", pushU, pushP, []auth.Access{pull, push}, true},
		{"push delete", pushU, pushP, []auth.Access{del}, false},
		{"push mount from other", pushU, pushP, []auth.Access{pull, push, otherPull}, false},
		{"push catalog", pushU, pushP, []auth.Access{catalog}, false},
		{"admin catalog", adminU, adminP, []auth.Access{catalog}, true},
		{"admin delete", adminU, adminP, []auth.Access{del, otherPull}, true},
		{"wrong password", pushU, pullP, []auth.Access{pull}, false},
		{"upper-case password", pullU, upper(pullP), []auth.Access{pull}, false},
		{"unknown user with a valid HMAC", "root", password(secret, "root"), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "https://dvcr/v2/", nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			grant, err := ac.Authorized(req, tc.access...)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if grant.User.Name != tc.user || len(grant.Resources) != len(tc.access) {
					t.Errorf("grant %+v", grant)
				}
				return
			}
			if err == nil {
				t.Fatalf("granted %+v", grant)
			}
			var ch auth.Challenge
			if !errors.As(err, &ch) {
				t.Fatalf("refusal %v is not a challenge (it would be a 400)", err)
			}
		})
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestCredentialsAreStable(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	u1, p1 := Credentials(secret, "cvi/x", true)
	u2, p2 := Credentials(secret, "cvi/x", true)
	if u1 != u2 || p1 != p2 {
		t.Errorf("Credentials differ between calls")
	}
	if u1 != "push@cvi/x" || len(p1) != 64 {
		t.Errorf("Credentials = %q, %q", u1, p1)
	}
	if _, p := Credentials(secret, "cvi/x", false); p == p1 {
		t.Errorf("pull and push credentials share a password")
	}
}

func TestPodCredentials(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	live := map[string]bool{"uid-1": true}
	ac := &accessController{secret: secret, podExists: func(uid string) bool { return live[uid] }}
	user, pass := PodCredentials(secret, "vi/vms/ubuntu", true, "uid-1")
	if user != "push@vi/vms/ubuntu@pod=uid-1" {
		t.Errorf("user %q", user)
	}
	authorize := func(user, pass string, a ...auth.Access) error {
		req, _ := http.NewRequest(http.MethodGet, "https://dvcr/v2/", nil)
		req.SetBasicAuth(user, pass)
		_, err := ac.Authorized(req, a...)
		return err
	}
	push := access("repository", "vi/vms/ubuntu", "push")
	pull := access("repository", "vi/vms/ubuntu", "pull")
	if err := authorize(user, pass, pull, push); err != nil {
		t.Fatalf("credentials of a live pod: %v", err)
	}
	// Scope: exactly one repository, no delete.
	if err := authorize(user, pass, access("repository", "vi/vms/other", "pull")); err == nil {
		t.Error("pod credentials pulled another repository")
	}
	if err := authorize(user, pass, access("repository", "vi/vms/ubuntu", "delete")); err == nil {
		t.Error("pod credentials may delete")
	}
	pu, pp := PodCredentials(secret, "cvi/x", false, "uid-1")
	if err := authorize(pu, pp, access("repository", "cvi/x", "pull")); err != nil {
		t.Errorf("pull credentials of a live pod: %v", err)
	}
	if err := authorize(pu, pp, access("repository", "cvi/x", "push")); err == nil {
		t.Error("pull credentials pushed")
	}
	// Rebinding to another pod breaks the signature.
	if err := authorize(strings.Replace(user, "uid-1", "uid-2", 1), pass, pull); err == nil {
		t.Error("a username naming another pod was accepted with the old password")
	}
	live["uid-2"] = true
	if err := authorize(strings.Replace(user, "uid-1", "uid-2", 1), pass, pull); err == nil {
		t.Error("a username naming another live pod was accepted with the old password")
	}
	// The pod is gone: so are its credentials.
	delete(live, "uid-1")
	err := authorize(user, pass, pull)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("credentials of a deleted pod: %v", err)
	}
	var ch auth.Challenge
	if !errors.As(err, &ch) {
		t.Errorf("refusal %v is not a challenge", err)
	}
	// Without a way to check pods, no pod credential works.
	ac.podExists = nil
	live["uid-1"] = true
	if err := authorize(user, pass, pull); err == nil {
		t.Error("pod credentials accepted without PodExists")
	}
}
func TestCredentialsUntil(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	ac := &accessController{secret: secret, now: func() time.Time { return now }}
	user, pass := CredentialsUntil(secret, "cvi/x", true, now.Add(time.Hour))
	s, err := ac.verify(user, pass)
	if err != nil || s.repo != "cvi/x" || !s.push {
		t.Fatalf("fresh credentials: scope %+v, %v", s, err)
	}
	// Moving the expiry breaks the signature.
	forged := strings.TrimSuffix(user, "1800003600") + "1900000000"
	if _, err := ac.verify(forged, pass); err == nil {
		t.Error("a username with a later expiry was accepted with the old password")
	}
	now = now.Add(time.Hour)
	if _, err := ac.verify(user, pass); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired credentials: %v", err)
	}
	// Plain credentials do not expire.
	u, p := Credentials(secret, "cvi/x", true)
	if _, err := ac.verify(u, p); err != nil {
		t.Errorf("plain credentials: %v", err)
	}
}
