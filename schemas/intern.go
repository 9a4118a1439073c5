package schemas

// Interner returns one shared string for equal byte strings, so that
// decoding a million readings of the same few thousand sensors allocates
// their ids once. It holds at most its capacity of strings and forgets them
// all when full, so its memory is bounded whatever the input.
//
// An Interner is not safe for concurrent use; give each decoding goroutine
// its own (see Decoder.Clone).
type Interner struct {
	m   map[string]string
	max int
}

// NewInterner returns an Interner that holds up to capacity strings;
// capacity <= 0 means 65536.
func NewInterner(capacity int) *Interner {
	if capacity <= 0 {
		capacity = 1 << 16
	}
	return &Interner{m: make(map[string]string, 1024), max: capacity}
}

// String returns a string equal to b, allocating only the first time it is
// seen (or seen again after the table was reset).
func (in *Interner) String(b []byte) string {
	if s, ok := in.m[string(b)]; ok { // the conversion does not allocate
		return s
	}
	if len(b) > 256 { // long strings rarely repeat; don't let them fill the table
		return string(b)
	}
	if len(in.m) >= in.max {
		clear(in.m)
	}
	s := string(b)
	in.m[s] = s
	return s
}
