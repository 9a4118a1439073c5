package schemas

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestParseUUID(t *testing.T) {
	a, ok1 := ParseUUID("0b9e4a52-3c1f-4d6e-8a7b-9c0d1e2f3a4b")
	b, ok2 := ParseUUID("0B9E4A52-3C1F-4D6E-8A7B-9C0D1E2F3A4B")
	if !ok1 || !ok2 || a != b || a[0] != 0x0b || a[15] != 0x4b {
		t.Fatalf("%x %v, %x %v", a, ok1, b, ok2)
	}
	for _, s := range []string{"", "0b9e4a52-3c1f-4d6e-8a7b-9c0d1e2f3a4", "0b9e4a52+3c1f-4d6e-8a7b-9c0d1e2f3a4b", "0b9e4a52-3c1f-4d6e-8a7b-9c0d1e2f3a4g"} {
		if _, ok := ParseUUID(s); ok {
			t.Errorf("%q parsed", s)
		}
	}
}

// FuzzParseUUID checks ParseUUID against encoding/hex on the id without
// its dashes.
func FuzzParseUUID(f *testing.F) {
	f.Add("0b9e4a52-3c1f-4d6e-8a7b-9c0d1e2f3a4b")
	f.Add("0B9E4A52-3C1F-4D6E-8A7B-9C0D1E2F3A4G")
	f.Add("0b9e4a52-3c1f-4d6e-8a7b-9c0d1e2f3a4")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseUUID(s)
		canonical := len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-'
		want, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
		wantOK := canonical && err == nil && len(want) == 16 && strings.Count(s, "-") == 4
		if ok != wantOK || (ok && string(got[:]) != string(want)) {
			t.Fatalf("%q: %x %v, want %x %v", s, got, ok, want, wantOK)
		}
	})
}

func BenchmarkParseUUID(b *testing.B) {
	for b.Loop() {
		if _, ok := ParseUUID("0b9e4a52-3c1f-4d6e-8a7b-9c0d1e2f3a4b"); !ok {
			b.Fatal("not parsed")
		}
	}
}
