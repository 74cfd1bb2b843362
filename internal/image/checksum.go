package image

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sort"
	"strings"
)

// Checksums maps an algorithm ("md5", "sha1", "sha256", "sha512") to the
// expected lower-case hex digest of the bytes received from the source.
type Checksums map[string]string

var hashes = map[string]func() hash.Hash{
	"md5":    md5.New,
	"sha1":   sha1.New,
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// ParseChecksums parses "sha256:abc,md5:def" (the IMPORTER_CHECKSUMS
// format). An empty string gives no checksums.
func ParseChecksums(s string) (Checksums, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	sums := Checksums{}
	for _, part := range strings.Split(s, ",") {
		alg, sum, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("checksum %q: want algorithm:hex", part)
		}
		alg, sum = strings.ToLower(strings.TrimSpace(alg)), strings.ToLower(strings.TrimSpace(sum))
		if _, dup := sums[alg]; dup {
			return nil, fmt.Errorf("checksum %s given twice", alg)
		}
		sums[alg] = sum
	}
	if err := sums.validate(); err != nil {
		return nil, err
	}
	return sums, nil
}

func (c Checksums) validate() error {
	for _, alg := range c.algorithms() {
		newHash, ok := hashes[alg]
		if !ok {
			return fmt.Errorf("checksum algorithm %q: want one of md5, sha1, sha256, sha512", alg)
		}
		want := newHash().Size() * 2
		if _, err := hex.DecodeString(c[alg]); err != nil || len(c[alg]) != want {
			return fmt.Errorf("checksum %s:%s: want %d hex digits", alg, c[alg], want)
		}
	}
	return nil
}

func (c Checksums) algorithms() []string {
	algs := make([]string, 0, len(c))
	for alg := range c {
		algs = append(algs, alg)
	}
	sort.Strings(algs)
	return algs
}

// verifier hashes a stream with every algorithm of a Checksums.
type verifier struct {
	want   Checksums
	hashes map[string]hash.Hash
	w      io.Writer
}

func newVerifier(want Checksums) *verifier {
	v := &verifier{want: want, hashes: map[string]hash.Hash{}}
	var ws []io.Writer
	for _, alg := range want.algorithms() {
		h := hashes[alg]()
		v.hashes[alg] = h
		ws = append(ws, h)
	}
	v.w = io.MultiWriter(ws...)
	return v
}

func (v *verifier) Write(p []byte) (int, error) { return v.w.Write(p) }

// verify returns an ErrChecksum naming every algorithm that did not match.
func (v *verifier) verify() error {
	var bad []string
	for _, alg := range v.want.algorithms() {
		got := hex.EncodeToString(v.hashes[alg].Sum(nil))
		if got != strings.ToLower(v.want[alg]) {
			bad = append(bad, fmt.Sprintf("%s: expected %s, got %s", alg, v.want[alg], got))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrChecksum, strings.Join(bad, "; "))
	}
	return nil
}
