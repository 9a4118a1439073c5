package schemas

import (
	"fmt"
	"testing"
)

func TestInternerSharesAndForgets(t *testing.T) {
	in := NewInterner(4)
	a := in.String([]byte("pump-7"))
	b := in.String([]byte("pump-7"))
	if a != "pump-7" || b != "pump-7" || &[]byte(a)[0] == nil {
		t.Fatalf("got %q %q", a, b)
	}
	if in.Len() != 1 {
		t.Fatalf("%d strings held, want 1", in.Len())
	}
	for i := range 10 {
		if s := in.String(fmt.Appendf(nil, "s-%d", i)); s != fmt.Sprintf("s-%d", i) {
			t.Fatalf("got %q", s)
		}
	}
	if in.Len() > 4 {
		t.Fatalf("%d strings held, capacity 4", in.Len())
	}
	long := make([]byte, 300)
	if s := in.String(long); len(s) != 300 {
		t.Fatal("long string mangled")
	}
}

// BenchmarkInterner looks up the ids of 12,500 sensors, as the decoders
// do for every reading of a plant that size.
func BenchmarkInterner(b *testing.B) {
	keys := make([][]byte, 12_500)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "asset-%04d-vibration", i)
	}
	in := NewInterner(0)
	for _, k := range keys {
		in.String(k)
	}
	i := 0
	for b.Loop() {
		_ = in.String(keys[i])
		i = (i + 7919) % len(keys)
	}
}
