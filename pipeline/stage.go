package pipeline

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Msg is one decoded input record and where it came from.
type Msg[T any] struct {
	Value     T
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // the Kafka record's timestamp
	// Key is the Kafka record's key (nil without one); like Value, valid
	// only during the call.
	Key []byte
	// Size is the record's key and value in bytes, as it came from Kafka
	// (0 for values handed to Local directly), for stages that bound it.
	Size int
	// ReadingID is the record's HeaderReadingID header: the reading it
	// derives from, for correlation (the HTTP API sets it on readings,
	// the features stage on windows, score and alert pass it on); "" when
	// the record has none.
	ReadingID string
}

// Stage transforms batches of decoded records. The runner calls Process
// from one goroutine at a time, never concurrently with the stage's
// optional hooks (Ticker, Revoker).
//
// in is valid only during the call: the runner reuses its memory, so a
// stage that keeps a record beyond Process must copy the Msg (its Value's
// strings and maps are never reused and may be kept).
//
// Process reports what it produces through out: Output.Emit for records,
// out.Reject for inputs that belong in the dead-letter topic. Inputs that
// are neither emitted from nor rejected are simply consumed (a dropped
// duplicate, a reading folded into a window).
//
// An error return means the whole batch could not be processed now (a
// database down, say): the runner discards what the call emitted, waits
// with backoff and calls Process again with the same batch, so a stage
// that returns errors must be safe to retry.
type Stage[T any] interface {
	Process(ctx context.Context, in []Msg[T], out *Emitter) error
}

// Outputter is implemented by stages that write to Kafka: the runner
// creates their topics and binds their Outputs to its encoders before the
// first batch.
type Outputter interface {
	Outputs() []Port
}

// Ticker is implemented by stages that act on time as well as on input
// (closing idle windows, noticing silent sensors). The runner calls Tick
// about every TickEvery, whether or not records arrive; outputs emitted by
// Tick are committed like any batch's.
type Ticker interface {
	TickEvery() time.Duration
	Tick(ctx context.Context, now time.Time, out *Emitter)
}

// Retainer is implemented by stages that keep state built from inputs
// whose outputs are not emitted yet (open windows). Retained returns, per
// topic and partition, the offset of the oldest input still needed; the
// runner never commits past it, so after a crash those inputs replay and
// rebuild the state. Partitions with nothing retained may be left out.
type Retainer interface {
	Retained() map[TopicPartition]int64
}

// Restorer is implemented by stages that keep state a replay of their
// retained input cannot rebuild (what an asset was like when new). The
// stage writes each entry of that state as a schemas.StageState record to
// StateTopic (one of its Outputs), with EmitAt on the partition of the
// input it derives from, in the batch's transaction when there is one.
// The runner creates StateTopic compacted, so the last record of each key
// is kept. When a partition of the stage's input is assigned, before
// Resume and before any of its records, the runner reads the same
// partition of StateTopic from its start to its end (committed records
// only) and hands each entry to Restore, in order; a later record of a
// key replaces an earlier one. A stage with a Restorer reads one input
// topic. A stage whose StateTopic is "" keeps no such state.
type Restorer interface {
	StateTopic() string
	Restore(tp TopicPartition, key string, value []byte)
}

// Revoker is implemented by stages with per-partition state. Revoked is
// called after the runner has committed what it could for partitions
// this member no longer owns; the stage must drop their state, since the
// new owner rebuilds it from the committed offsets.
type Revoker interface {
	Revoked(ctx context.Context, partitions []TopicPartition)
}

// Checkpointer is implemented by stages that resume from a little state
// per partition besides the offset (the features stage: how far its
// windows are closed). Checkpoint is called for every partition with each
// batch, after Process and Tick; the runner commits its value with the
// batch's offsets, in the same request, so an offset and its checkpoint
// never disagree. Resume is called when a partition is assigned, before
// any of its records, with the checkpoint committed with the offset
// consumption restarts from ("" if there is none). Checkpoints must stay
// under a few hundred bytes (Kafka caps offset metadata, 4 KiB by default).
type Checkpointer interface {
	Checkpoint(tp TopicPartition) string
	Resume(tp TopicPartition, checkpoint string)
}

// NextOffset is the checkpoint of a stage whose position is the next
// offset to apply: its tag (its own, so that no stage resumes from
// another's) and the offset. ParseNextOffset reads one back; ok is false
// for another tag's, or for none.
func NextOffset(tag string, next int64) string { return tag + " " + strconv.FormatInt(next, 10) }

// ParseNextOffset reads a checkpoint NextOffset wrote with tag.
func ParseNextOffset(tag, checkpoint string) (next int64, ok bool) {
	rest, ok := strings.CutPrefix(checkpoint, tag+" ")
	if !ok {
		return 0, false
	}
	next, err := strconv.ParseInt(rest, 10, 64)
	return next, err == nil
}

// TopicPartition names one partition of one topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// StageFunc adapts a function to a Stage.
type StageFunc[T any] func(ctx context.Context, in []Msg[T], out *Emitter) error

// Process calls f.
func (f StageFunc[T]) Process(ctx context.Context, in []Msg[T], out *Emitter) error {
	return f(ctx, in, out)
}
