package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	v2 "github.com/distribution/distribution/v3/registry/api/v2"
	"github.com/distribution/distribution/v3/registry/auth"
	"github.com/gorilla/mux"
)

// Usernames carry their own scope, so a credential needs no state in the
// registry: "pull@<repo>", "push@<repo>" or "admin". The separator is '@'
// and not ':' because HTTP Basic splits user and password at the first ':'.
const (
	pullPrefix = "pull@"
	pushPrefix = "push@"
	adminUser  = "admin"

	// realm is what a client without credentials is told to log in to.
	realm = "dvcr"

	// accessControllerName is the name the controller is registered under
	// in distribution's (process-wide) table of access controllers.
	accessControllerName = "dvcr-scoped"
	// controllerOption carries the ready-made controller through
	// distribution's options map, so no secret lives in a package global.
	controllerOption = "controller"
)

// Credentials returns a username/password that grant pull (and push when
// push is true) on exactly one repository. The password is derived from the
// secret, so the same call always yields the same credentials and rotating
// the secret revokes them all.
func Credentials(secret []byte, repo string, push bool) (user, pass string) {
	user = pullPrefix + repo
	if push {
		user = pushPrefix + repo
	}
	return user, password(secret, user)
}

// CredentialsUntil is Credentials that stop working at until: what a pod
// gets when its Secret lives where others may read it, so a copy of the
// Secret is worth nothing once the job is long done. The expiry is part of
// the signed username ("push@<repo>@<unix seconds>").
func CredentialsUntil(secret []byte, repo string, push bool, until time.Time) (user, pass string) {
	user, _ = Credentials(secret, repo, push)
	user += "@" + strconv.FormatInt(until.Unix(), 10)
	return user, password(secret, user)
}

// podPrefix marks the suffix of a username bound to a pod:
// "push@<repo>@pod=<uid>".
const podPrefix = "pod="

// PodCredentials are Credentials bound to one pod: they work only while a
// pod with UID podUID exists (Options.PodExists), so a copy is worthless
// once the pod is gone. Only the node runtime, which starts the pod's
// processes, computes them; they never pass through the API.
func PodCredentials(secret []byte, repo string, push bool, podUID string) (user, pass string) {
	user, _ = Credentials(secret, repo, push)
	user += "@" + podPrefix + podUID
	return user, password(secret, user)
}

// AdminCredentials returns the credentials of the platform itself: every
// action on every repository, including delete and the catalog.
func AdminCredentials(secret []byte) (user, pass string) {
	return adminUser, password(secret, adminUser)
}

// password is hex(HMAC-SHA256(secret, user)).
func password(secret []byte, user string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(user)) // never fails
	return hex.EncodeToString(m.Sum(nil))
}

// scope is what a verified username allows.
type scope struct {
	admin bool
	repo  string
	push  bool
}

// allows reports whether the scope covers one requested access.
func (s scope) allows(a auth.Access) bool {
	if s.admin {
		return true
	}
	if a.Type != "repository" || a.Name != s.repo {
		return false // other repositories and the catalog
	}
	switch a.Action {
	case "pull":
		return true
	case "push":
		return s.push
	default:
		return false // "delete" and anything new is the platform's
	}
}

// accessController authenticates HTTP Basic credentials made by Credentials
// or AdminCredentials and grants only what their scope covers.
type accessController struct {
	secret []byte
	now    func() time.Time // nil: time.Now
	// podExists reports whether a pod with the UID exists; nil refuses
	// every pod-bound credential.
	podExists func(uid string) bool
}

var _ auth.AccessController = (*accessController)(nil)

// verify checks user and pass and returns the scope of user.
func (ac *accessController) verify(user, pass string) (scope, error) {
	want := password(ac.secret, user)
	// ConstantTimeCompare returns early only on a length mismatch, and the
	// length of a valid password is public anyway.
	if subtle.ConstantTimeCompare([]byte(pass), []byte(want)) != 1 {
		return scope{}, auth.ErrAuthenticationFailure
	}
	var s scope
	switch {
	case user == adminUser:
		return scope{admin: true}, nil
	case strings.HasPrefix(user, pushPrefix):
		s = scope{repo: strings.TrimPrefix(user, pushPrefix), push: true}
	case strings.HasPrefix(user, pullPrefix):
		s = scope{repo: strings.TrimPrefix(user, pullPrefix)}
	default:
		// Only reachable with a password signed for a name this package
		// never issues.
		return scope{}, auth.ErrInvalidCredential
	}
	// Repository names never hold '@': one after the repository is the
	// pod PodCredentials bound them to, or the expiry CredentialsUntil
	// signed.
	if repo, uid, ok := strings.Cut(s.repo, "@"+podPrefix); ok {
		if uid == "" || ac.podExists == nil || !ac.podExists(uid) {
			return scope{}, fmt.Errorf("%w: the pod these credentials were issued to (uid %q) does not exist", auth.ErrAuthenticationFailure, uid)
		}
		s.repo = repo
	} else if repo, exp, ok := strings.Cut(s.repo, "@"); ok {
		until, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			return scope{}, auth.ErrInvalidCredential
		}
		now := time.Now
		if ac.now != nil {
			now = ac.now
		}
		if now().Unix() >= until {
			return scope{}, fmt.Errorf("%w: credentials expired", auth.ErrAuthenticationFailure)
		}
		s.repo = repo
	}
	return s, nil
}

// Authorized implements auth.AccessController. Every refusal is a Basic
// challenge, so the registry answers 401 with WWW-Authenticate; distribution
// turns any other error into a bare 400.
func (ac *accessController) Authorized(r *http.Request, access ...auth.Access) (*auth.Grant, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil, challenge{err: auth.ErrInvalidCredential}
	}
	s, err := ac.verify(user, pass)
	if err != nil {
		return nil, challenge{err: err}
	}
	grant := &auth.Grant{User: auth.UserInfo{Name: user}}
	for _, a := range access {
		if !s.allows(a) {
			return nil, challenge{err: fmt.Errorf("%s may not %s %s:%s", user, a.Action, a.Type, a.Name)}
		}
		grant.Resources = append(grant.Resources, a.Resource)
	}
	return grant, nil
}

// challenge asks for Basic credentials.
type challenge struct {
	err error
}

var _ auth.Challenge = challenge{}

func (c challenge) Error() string { return "dvcr authorization: " + c.err.Error() }

func (c challenge) Unwrap() error { return c.err }

func (challenge) SetHeaders(_ *http.Request, w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", realm))
}

// registerOnce guards distribution's process-wide access-controller table,
// which refuses a second registration of the same name. The registered
// constructor holds no secret: each Registry passes its own controller
// through the options map.
var registerOnce = sync.OnceValue(func() error {
	return auth.Register(accessControllerName, func(options map[string]any) (auth.AccessController, error) {
		ac, ok := options[controllerOption].(*accessController)
		if !ok {
			return nil, fmt.Errorf("access controller %q needs option %q", accessControllerName, controllerOption)
		}
		return ac, nil
	})
})

// dropForeignMounts turns a cross-repository mount the credentials may not
// read from into a plain upload. Distribution would refuse the whole request
// (it asks for pull on the source too), but the OCI distribution spec wants
// a registry unable to mount to start an ordinary upload (202), which every
// client handles; some clients do not retry a refused mount without it.
// Scoped credentials can never mount: they name one repository.
func dropForeignMounts(ac *accessController, router *mux.Router, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from := q.Get("from")
		if r.Method != http.MethodPost || from == "" {
			next.ServeHTTP(w, r)
			return
		}
		var m mux.RouteMatch
		if !router.Match(r, &m) || m.Route.GetName() != v2.RouteNameBlobUpload {
			next.ServeHTTP(w, r)
			return
		}
		if user, pass, ok := r.BasicAuth(); ok {
			if s, err := ac.verify(user, pass); err == nil && s.allows(auth.Access{
				Resource: auth.Resource{Type: "repository", Name: from}, Action: "pull",
			}) {
				next.ServeHTTP(w, r)
				return
			}
		}
		q.Del("from")
		q.Del("mount")
		q.Del("origin")
		r = r.Clone(r.Context())
		r.URL.RawQuery = q.Encode()
		r.RequestURI = r.URL.RequestURI()
		next.ServeHTTP(w, r)
	})
}
