package schemas

import "testing"

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
