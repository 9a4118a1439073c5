package dedupe

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// idTable is an open-addressing hash table from reading id to where and
// when it was first seen: 33 bytes a slot and at most 3/4 of the slots
// full, so at most 44 bytes an id, where a Go map of the same entries
// takes about 75. It grows by doubling up to the slot count that holds
// limit ids and never past it; the caller keeps it at or under limit. It
// never shrinks: reset empties it and keeps its slots.
//
// Probing is linear over a byte array of tags (7 bits of each slot's
// hash, 0 for empty) beside the slots: most ids looked up are new, and a
// miss then reads one or two cache lines of tags instead of several of
// 32-byte slots.
//
// Hashing is seeded per table, so ids crafted to collide cannot be chosen
// without knowing the seed. An idTable is used by one goroutine.
type idTable struct {
	tags         []uint8 // per slot: 0 empty, else 0x80 | 7 bits of the hash
	slots        []idSlot
	n            int // ids held
	maxSlots     int // slots at full size, for limit ids at 3/4 load
	seed0, seed1 uint64
}

// idSlot is one remembered id: where (offset, or offElsewhere) and when
// it was first seen.
type idSlot struct {
	key  uuidKey
	off  int64
	seen int64
}

const idTableMinSlots = 1024

func newIDTable(limit int) *idTable {
	t := &idTable{maxSlots: max(idTableMinSlots, limit+limit/3+1), seed0: rand.Uint64(), seed1: rand.Uint64()}
	t.alloc(idTableMinSlots)
	return t
}

func (t *idTable) alloc(slots int) {
	t.slots = make([]idSlot, slots)
	t.tags = make([]uint8, slots)
}

// hash mixes both halves of the key with the table's seeds: two rounds of
// a 64×64→128-bit multiply folded to 64 bits.
func (t *idTable) hash(k *uuidKey) uint64 {
	a := binary.LittleEndian.Uint64(k[:8]) ^ t.seed0
	b := binary.LittleEndian.Uint64(k[8:]) ^ t.seed1
	hi, lo := bits.Mul64(a, b)
	hi, lo = bits.Mul64(hi^lo^t.seed0, 0x9e3779b97f4a7c15)
	return hi ^ lo
}

// home is the first slot probed for hash h: h scaled to the table's
// length, which need not be a power of two.
func (t *idTable) home(h uint64) int {
	i, _ := bits.Mul64(h, uint64(len(t.slots)))
	return int(i)
}

// tagOf is the tag of hash h: its low 7 bits (home uses the high ones),
// with the top bit set so that no tag is 0.
func tagOf(h uint64) uint8 { return uint8(h) | 0x80 }

// find returns the index of the slot holding k, or of the empty slot
// where k would go, and k's tag. It needs an empty slot in the table; set
// keeps one.
func (t *idTable) find(k *uuidKey) (i int, tag uint8, found bool) {
	h := t.hash(k)
	tag = tagOf(h)
	for i = t.home(h); ; i++ {
		if i == len(t.tags) {
			i = 0
		}
		switch t.tags[i] {
		case 0:
			return i, tag, false
		case tag:
			if t.slots[i].key == *k {
				return i, tag, true
			}
		}
	}
}

// get returns the slot holding k, or nil.
func (t *idTable) get(k uuidKey) *idSlot {
	if t.n == 0 {
		return nil
	}
	if i, _, ok := t.find(&k); ok {
		return &t.slots[i]
	}
	return nil
}

// set stores k's first sighting, replacing what the table held for k.
// The caller keeps the ids held under the table's limit, so a slot is
// always empty; set panics rather than fill the last one (find would then
// probe forever).
func (t *idTable) set(k uuidKey, offset, seen int64) {
	if t.n >= len(t.slots)-1 {
		panic("dedupe: id table full: the cache must rotate before its limit")
	}
	if t.n >= len(t.slots)*3/4 && len(t.slots) < t.maxSlots {
		t.grow()
	}
	i, tag, found := t.find(&k)
	if !found {
		t.tags[i] = tag
		t.n++
	}
	t.slots[i] = idSlot{key: k, off: offset, seen: seen}
}

func (t *idTable) grow() {
	oldTags, old := t.tags, t.slots
	t.alloc(min(2*len(old), t.maxSlots))
	for i := range old {
		if oldTags[i] == 0 {
			continue
		}
		h := t.hash(&old[i].key)
		j := t.home(h)
		for t.tags[j] != 0 {
			if j++; j == len(t.tags) {
				j = 0
			}
		}
		t.tags[j], t.slots[j] = tagOf(h), old[i]
	}
}

// reset empties the table and keeps its slots for reuse.
func (t *idTable) reset() {
	clear(t.tags)
	t.n = 0
}
