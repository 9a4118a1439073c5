package schemas

import "hash/maphash"

// Interner returns one shared string for equal byte strings, so that
// decoding a million readings of the same few thousand sensors allocates
// their ids once. It holds at most its capacity of strings and forgets them
// all when full, so its memory is bounded whatever the input.
//
// It is an open-addressing table keyed by a seeded hash of the bytes
// (the decoders look up four strings of every reading, so a lookup must
// cost little more than the hash).
//
// An Interner is not safe for concurrent use; give each decoding goroutine
// its own (see Decoder.Clone).
type Interner struct {
	seed  maphash.Seed
	slots []internSlot // a power of two, at least twice max
	n     int
	max   int
}

type internSlot struct {
	hash uint64 // 0: empty
	s    string
}

// NewInterner returns an Interner that holds up to capacity strings;
// capacity <= 0 means 65536.
func NewInterner(capacity int) *Interner {
	if capacity <= 0 {
		capacity = 1 << 16
	}
	return &Interner{seed: maphash.MakeSeed(), max: capacity, slots: make([]internSlot, 1024)}
}

// String returns a string equal to b, allocating only the first time it is
// seen (or seen again after the table was reset).
func (in *Interner) String(b []byte) string {
	if len(b) > 256 { // long strings rarely repeat; don't let them fill the table
		return string(b)
	}
	h := maphash.Bytes(in.seed, b) | 1 // never 0, the empty mark
	mask := uint64(len(in.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &in.slots[i]
		if sl.hash == 0 {
			break
		}
		if sl.hash == h && sl.s == string(b) { // the conversion does not allocate
			return sl.s
		}
	}
	if in.n >= in.max {
		clear(in.slots)
		in.n = 0
	}
	if 2*(in.n+1) > len(in.slots) {
		in.grow()
	}
	s := string(b)
	mask = uint64(len(in.slots) - 1)
	i := h & mask
	for in.slots[i].hash != 0 {
		i = (i + 1) & mask
	}
	in.slots[i] = internSlot{hash: h, s: s}
	in.n++
	return s
}

// grow doubles the table, keeping it at most half full.
func (in *Interner) grow() {
	old := in.slots
	in.slots = make([]internSlot, 2*len(old))
	mask := uint64(len(in.slots) - 1)
	for _, sl := range old {
		if sl.hash == 0 {
			continue
		}
		i := sl.hash & mask
		for in.slots[i].hash != 0 {
			i = (i + 1) & mask
		}
		in.slots[i] = sl
	}
}

// Len returns how many strings the Interner holds.
func (in *Interner) Len() int { return in.n }
