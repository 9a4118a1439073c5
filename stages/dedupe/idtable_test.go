package dedupe

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestIDTableMatchesAMap drives a table and a Go map with the same
// random sets and gets, through every growth step to the table's limit.
func TestIDTableMatchesAMap(t *testing.T) {
	const limit = 20_000
	rng := rand.New(rand.NewPCG(1, 2))
	tab := newIDTable(limit)
	ref := map[uuidKey][2]int64{}
	keys := []uuidKey{{}} // the nil UUID is a valid id too
	for len(ref) < limit {
		var k uuidKey
		if len(keys) > 1 && rng.IntN(4) == 0 {
			k = keys[rng.IntN(len(keys))] // overwrite a known id
		} else if len(keys) == 1 && len(ref) == 0 {
			k = keys[0]
		} else {
			binary.LittleEndian.PutUint64(k[:8], rng.Uint64())
			binary.LittleEndian.PutUint64(k[8:], rng.Uint64())
			keys = append(keys, k)
		}
		off, seen := rng.Int64N(1<<40)-1, rng.Int64() // offElsewhere (-1) included
		tab.set(k, off, seen)
		ref[k] = [2]int64{off, seen}
		if tab.n != len(ref) {
			t.Fatalf("table holds %d, map %d", tab.n, len(ref))
		}
	}
	for _, k := range keys {
		s, want := tab.get(k), ref[k]
		if s == nil || s.off != want[0] || s.seen != want[1] {
			t.Fatalf("%x: got %+v, want %v", k, s, want)
		}
	}
	for range 1000 {
		var k uuidKey
		binary.LittleEndian.PutUint64(k[:8], rng.Uint64())
		if _, in := ref[k]; !in && tab.get(k) != nil {
			t.Fatalf("%x found but never set", k)
		}
	}
	if len(tab.slots) != tab.maxSlots {
		t.Fatalf("%d slots after %d ids, want the limit's %d", len(tab.slots), limit, tab.maxSlots)
	}
	if perID := float64(len(tab.slots)) * 33 / limit; perID > 44.01 { // 33 bytes a slot, 4/3 slots an id
		t.Fatalf("%.1f bytes an id at the limit", perID)
	}
	tab.reset()
	if tab.n != 0 || tab.get(keys[1]) != nil || len(tab.slots) != tab.maxSlots {
		t.Fatalf("reset left %d ids, %d slots", tab.n, len(tab.slots))
	}
}

// BenchmarkCache measures put and lookup of fresh ids in a full cache of
// the default capacity, rotation included.
func BenchmarkCache(b *testing.B) {
	c := newCache(defaultLocalCapacity, int64(1<<62))
	rng := rand.New(rand.NewPCG(3, 4))
	ids := make([]uuidKey, 1<<20)
	for i := range ids {
		binary.LittleEndian.PutUint64(ids[i][:8], rng.Uint64())
		binary.LittleEndian.PutUint64(ids[i][8:], rng.Uint64())
	}
	for i := range defaultLocalCapacity {
		c.put(ids[i%len(ids)], int64(i), 1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := ids[i&(len(ids)-1)]
		if _, ok := c.lookup(id, 2); !ok {
			c.put(id, int64(i), 2)
		}
	}
}

// TestIDTableRefusesToFill: a caller that breaks the limit gets a panic,
// not a probe that never ends.
func TestIDTableRefusesToFill(t *testing.T) {
	tab := newIDTable(10) // the smallest table: idTableMinSlots slots
	defer func() {
		if recover() == nil || tab.n != idTableMinSlots-1 {
			t.Fatalf("no panic, or at %d ids", tab.n)
		}
	}()
	for i := range idTableMinSlots {
		var k uuidKey
		binary.LittleEndian.PutUint64(k[:8], uint64(i)+1)
		tab.set(k, int64(i), 1)
	}
}
