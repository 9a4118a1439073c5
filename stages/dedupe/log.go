package dedupe

import (
	"context"
	"time"

	"github.com/smaint/smaint/pipeline"
)

// LogEntry is one reading id first seen at Offset of a partition.
type LogEntry struct {
	ID     string
	Offset int64
}

// LogStore keeps, for each input partition, the log of reading ids first
// seen in it. The stage appends to it once per batch and reads it back
// when it takes over a partition, so the cache of the new owner starts
// with the partition's recent history: a changelog, as a Kafka Streams
// state store has one. It costs one store operation per batch instead of
// one per reading, but catches only duplicates that arrive on the same
// partition as their original (which keying by sensor_id guarantees).
// Implementations must be safe for concurrent use.
type LogStore interface {
	// Append adds to the log of each partition its entries, first seen at
	// seenAt. Entries older than ttl may be dropped.
	Append(ctx context.Context, seenAt time.Time, ttl time.Duration, entries map[pipeline.TopicPartition][]LogEntry) error
	// Restore calls fn, in log order, for every entry of tp's log first seen
	// after since.
	Restore(ctx context.Context, tp pipeline.TopicPartition, since time.Time, ttl time.Duration, fn func(e LogEntry, seenAt time.Time)) error
}
