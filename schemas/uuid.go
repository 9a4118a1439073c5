package schemas

import "crypto/rand"

// ParseUUID parses a reading_id in the canonical 8-4-4-4-12 hex form (any
// letter case) into its 16 bytes; ok is false for anything else. Equal
// ids in different cases give equal bytes.
func ParseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var bad byte // any invalid digit sets its high bit
	for j, i := range uuidDigitPairs {
		hi, lo := hexValue[s[i]], hexValue[s[i+1]]
		bad |= hi | lo
		u[j] = hi<<4 | lo&0x0f
	}
	return u, bad&0x80 == 0
}

// uuidDigitPairs are the offsets of the 16 byte-pairs of hex digits in a
// canonical UUID.
var uuidDigitPairs = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexValue maps a hex digit to its value and any other byte to 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()

// NewUUID returns a random (version 4) UUID in canonical form, for a
// reading that came without an id.
func NewUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	b := make([]byte, 36)
	for j, i := range uuidDigitPairs {
		b[i], b[i+1] = hex[u[j]>>4], hex[u[j]&0x0f]
	}
	b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
	return string(b)
}
