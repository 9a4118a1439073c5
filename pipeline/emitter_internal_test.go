package pipeline

import (
	"context"
	"testing"

	"github.com/smaint/smaint/schemas"
)

// An Emitter reused for batches keeps the room steady batches need, and
// lets go of what one burst grew once batches are small again.
func TestEmitterLetsGoOfBurstRoom(t *testing.T) {
	enc, err := schemas.NewSerde().NewEncoder(context.Background(), (&schemas.SensorReading{}).AvroSchema(), "")
	if err != nil {
		t.Fatal(err)
	}
	r := &schemas.SensorReading{ReadingID: "00000000-0000-4000-8000-000000000001", SensorID: "s", AssetID: "a",
		SensorType: "temperature", Unit: "C", Value: 1}
	var e Emitter
	batch := func(n int) {
		e.reset(nil)
		for range n {
			e.emit("t", -1, "key", enc, r, "")
		}
	}
	batch(50_000) // a burst
	burstRecs, burstChunks := cap(e.recs), len(e.arena.chunks)
	if burstRecs < 50_000 || burstChunks < 10 {
		t.Fatalf("burst: room for %d records, %d chunks", burstRecs, burstChunks)
	}
	for range 40 {
		batch(500)
	}
	batch(0)
	if cap(e.recs) > 5_000 || len(e.arena.chunks) > 2 {
		t.Errorf("after small batches: room for %d records and %d chunks kept, from %d and %d", cap(e.recs), len(e.arena.chunks), burstRecs, burstChunks)
	}
	// Steady batches of one size keep their room: no reallocation.
	batch(20_000)
	recs, chunks := &e.recs[:1][0], e.arena.chunks[0]
	for range 20 {
		batch(20_000)
	}
	if &e.recs[:1][0] != recs || &e.arena.chunks[0][:1][0] != &chunks[:1][0] {
		t.Error("steady batches reallocated their room")
	}
}
