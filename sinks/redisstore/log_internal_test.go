package redisstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smaint/smaint/stages/dedupe"
)

func TestLogBlockRoundTripAndCorruption(t *testing.T) {
	seen := time.Unix(1_800_000_000, 5)
	entries := []dedupe.LogEntry{{ID: "a", Offset: 1}, {ID: "", Offset: -1}, {ID: "ccc", Offset: 1 << 40}}
	b := encodeLogBlock(seen, entries)
	var got []string
	if err := decodeLogBlock(b, seen.Add(-time.Second), func(e dedupe.LogEntry, at time.Time) {
		got = append(got, fmt.Sprintf("%s@%d/%d", e.ID, e.Offset, at.UnixNano()))
	}); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint([]string{"a@1/1800000000000000005", "@-1/1800000000000000005", "ccc@1099511627776/1800000000000000005"}); fmt.Sprint(got) != want {
		t.Fatalf("decoded %v, want %v", got, want)
	}
	// A block seen at or before since yields nothing, but is still checked.
	got = nil
	if err := decodeLogBlock(b, seen, func(e dedupe.LogEntry, _ time.Time) { got = append(got, e.ID) }); err != nil || got != nil {
		t.Fatalf("block at since: %v, %v", got, err)
	}
	for i := range len(b) {
		if err := decodeLogBlock(b[:i], time.Time{}, func(dedupe.LogEntry, time.Time) {}); !errors.Is(err, errBadBlock) {
			t.Fatalf("block cut to %d of %d bytes: %v", i, len(b), err)
		}
	}
	if err := decodeLogBlock(append(b, 0), time.Time{}, func(dedupe.LogEntry, time.Time) {}); !errors.Is(err, errBadBlock) {
		t.Fatalf("trailing byte: %v", err)
	}
}
