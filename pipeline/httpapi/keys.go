package httpapi

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/smaint/smaint/pipeline"
)

// Scope is what a key may do.
type Scope string

// The scopes: read asks about sensors and alerts; write posts readings.
const (
	ScopeRead  Scope = "read"
	ScopeWrite Scope = "write"
)

// Key is one API key as the server knows it: its name, its scopes, its
// rate limit and the SHA-256 of its secret. The secret itself is never
// kept: a key is 32 random bytes, so its hash is as good as a password
// hash and costs nothing to check.
type Key struct {
	Name   string
	Scopes []Scope
	Rate   float64 // requests per second it may make; 0: no limit
	Burst  int     // requests it may make at once above Rate (at least 1)
	hash   [32]byte
}

// Allows reports whether k has scope s.
func (k *Key) Allows(s Scope) bool { return slices.Contains(k.Scopes, s) }

// Keys are the keys a server accepts. The zero value accepts none. Keys
// is immutable and safe for concurrent use.
type Keys struct {
	keys []Key
}

// ParseKeys reads keys, one per line (or per ';'), each
//
//	NAME SCOPES RATE sha256:HEX
//
// where SCOPES is read, write or read,write; RATE is requests per second,
// optionally /BURST (100 or 100/200; 0 is unlimited; the burst defaults
// to the rate, at least 1); and HEX is the SHA-256 of the secret, as
// NewKey prints it. Blank lines and lines starting with # are skipped.
// Errors name the line and wrap pipeline.ErrConfig; they never quote a
// hash.
func ParseKeys(r io.Reader) (*Keys, error) {
	ks := &Keys{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		for line := range strings.SplitSeq(sc.Text(), ";") {
			n++
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, err := parseKey(line)
			if err != nil {
				return nil, fmt.Errorf("%w: API key %d: %v", pipeline.ErrConfig, n, err)
			}
			if slices.ContainsFunc(ks.keys, func(o Key) bool { return o.Name == k.Name }) {
				return nil, fmt.Errorf("%w: API key %d: name %q is used twice", pipeline.ErrConfig, n, k.Name)
			}
			if slices.ContainsFunc(ks.keys, func(o Key) bool { return o.hash == k.hash }) {
				return nil, fmt.Errorf("%w: API key %d (%s): the same key as another; make one per client", pipeline.ErrConfig, n, k.Name)
			}
			ks.keys = append(ks.keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: API keys: %v", pipeline.ErrConfig, err)
	}
	return ks, nil
}

func parseKey(line string) (Key, error) {
	f := strings.Fields(line)
	if len(f) != 4 {
		return Key{}, fmt.Errorf("want NAME SCOPES RATE sha256:HEX, got %d fields", len(f))
	}
	k := Key{Name: f[0]}
	if !validName(k.Name) {
		return k, fmt.Errorf("name %q: want letters, digits, '-', '_' or '.', at most 64", k.Name)
	}
	for s := range strings.SplitSeq(f[1], ",") {
		switch Scope(s) {
		case ScopeRead, ScopeWrite:
			k.Scopes = append(k.Scopes, Scope(s))
		default:
			return k, fmt.Errorf("key %s: scope %q: want read or write", k.Name, s)
		}
	}
	rate, burst, hasBurst := strings.Cut(f[2], "/")
	var err error
	if k.Rate, err = strconv.ParseFloat(rate, 64); err != nil || k.Rate < 0 || math.IsInf(k.Rate, 0) || math.IsNaN(k.Rate) {
		return k, fmt.Errorf("key %s: rate %q: want requests per second, 0 for no limit", k.Name, f[2])
	}
	k.Burst = max(1, int(math.Ceil(k.Rate)))
	if hasBurst {
		if k.Burst, err = strconv.Atoi(burst); err != nil || k.Burst < 1 {
			return k, fmt.Errorf("key %s: burst %q: want a positive count", k.Name, burst)
		}
	}
	h, ok := strings.CutPrefix(f[3], "sha256:")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != sha256.Size {
		return k, fmt.Errorf("key %s: the hash is not sha256: and 64 hex digits (store the hash NewKey prints, never the key)", k.Name)
	}
	copy(k.hash[:], b)
	return k, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Lookup returns the key whose secret is secret. It hashes secret and
// compares the hash with every key's in constant time, so how long it
// takes says nothing about which key, or how much of one, matched.
func (ks *Keys) Lookup(secret string) (*Key, bool) {
	if ks == nil {
		return nil, false
	}
	h := sha256.Sum256([]byte(secret))
	found := -1
	for i := range ks.keys {
		eq := subtle.ConstantTimeCompare(h[:], ks.keys[i].hash[:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return nil, false
	}
	return &ks.keys[found], true
}

// Len returns how many keys there are.
func (ks *Keys) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.keys)
}

// keyPrefix marks smaint's API keys, so that secret scanners and people
// recognise one.
const keyPrefix = "smk_"

// NewKey returns a new random secret and the line that ParseKeys reads
// for it, with the given name, scopes and rate (as ParseKeys takes them).
// The secret goes to the client; the line, which holds only its hash, to
// the server's keys.
func NewKey(name, scopes, rate string) (secret, line string, err error) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	line = fmt.Sprintf("%s %s %s sha256:%x", name, scopes, rate, h)
	if _, err := parseKey(line); err != nil {
		return "", "", fmt.Errorf("%w: %v", pipeline.ErrConfig, err)
	}
	return secret, line, nil
}
