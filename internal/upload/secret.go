package upload

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and keys of an upload Secret.
const (
	// LabelTokenHash holds TokenHash(token): how the gateway finds the Secret.
	LabelTokenHash = "virtualization.deckhouse.io/upload-token-sha256"
	LabelComponent = "app.kubernetes.io/component"
	Component      = "upload"

	KeyToken     = "token"     // the token, as in the URL
	KeyState     = "state"     // one of the State* values
	KeyStartedAt = "startedAt" // RFC 3339, set when an upload starts
	KeyResult    = "result"    // JSON of image.Result on success
	KeyReason    = "reason"    // image.Reason of a failure
	KeyError     = "error"     // message of a failure
	// KeyInterrupted says why the last upload was cut off, KeyInterruptedAt
	// (RFC 3339) when; the Secret is back to Waiting then.
	KeyInterrupted   = "interrupted"
	KeyInterruptedAt = "interruptedAt"
)

// States of an upload. Only Waiting accepts an upload; the gateway moves
// Waiting to Uploading and Uploading to Succeeded or Failed, or back to
// Waiting when the upload was cut off (see MarkInterrupted); the controller
// moves Waiting to Expired when nobody uploaded in time.
const (
	StateWaiting   = "Waiting"
	StateUploading = "Uploading"
	StateSucceeded = "Succeeded"
	StateFailed    = "Failed"
	StateExpired   = "Expired"
)

// PathPrefix is where the gateway serves uploads: PathPrefix + token.
const PathPrefix = "/upload/"

// tokenBytes is the token's entropy: 256 bits.
const tokenBytes = 32

// NewToken returns a URL-safe random token with 256 bits from crypto/rand.
func NewToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// TokenHash is the label value naming a token: hex SHA-256, cut to the 63
// characters a label value may have.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])[:63]
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{16,128}$`)

// ParsePath returns the token of an upload path "/upload/<token>"; ok is
// false for any other path.
func ParsePath(p string) (token string, ok bool) {
	token, found := strings.CutPrefix(p, PathPrefix)
	if !found || !tokenRE.MatchString(token) {
		return "", false
	}
	return token, true
}

// SecretName names the upload Secret of an image or disk; prefix is "vi",
// "cvi" or "vd".
func SecretName(prefix, imageName string) string { return prefix + "-upload-" + imageName }

// NewSecret is a fresh upload Secret waiting for an upload. The caller sets
// the owner reference.
func NewSecret(namespace, name, token string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: name,
			Labels: map[string]string{
				"app.kubernetes.io/managed-by": "dvp",
				LabelComponent:                 Component,
				LabelTokenHash:                 TokenHash(token),
			},
		},
		Data: map[string][]byte{KeyToken: []byte(token), KeyState: []byte(StateWaiting)},
	}
}

// State returns the upload state of a Secret.
func State(s *corev1.Secret) string { return string(s.Data[KeyState]) }

// MarkInterrupted puts an upload Secret's data back to Waiting after an
// upload was cut off: note says what happened (shown to the user), at is
// when, and the wait for a new upload starts over from then.
func MarkInterrupted(data map[string][]byte, note string, at time.Time) {
	data[KeyState] = []byte(StateWaiting)
	data[KeyInterrupted] = []byte(note)
	data[KeyInterruptedAt] = []byte(at.UTC().Format(time.RFC3339Nano))
}

// WaitingSince is when the Secret started waiting for an upload: its
// creation, or the last interruption.
func WaitingSince(s *corev1.Secret) time.Time {
	since := s.CreationTimestamp.Time
	if at, err := time.Parse(time.RFC3339Nano, string(s.Data[KeyInterruptedAt])); err == nil && at.After(since) {
		since = at
	}
	return since
}
