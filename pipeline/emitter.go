package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/schemas"
)

// DLQ header names. Values keep the original key, value and headers; these
// headers are added.
const (
	HeaderStage           = "smaint-stage"
	HeaderError           = "smaint-error"
	HeaderErrorKind       = "smaint-error-kind"
	HeaderSourceTopic     = "smaint-source-topic"
	HeaderSourcePartition = "smaint-source-partition"
	HeaderSourceOffset    = "smaint-source-offset"
	HeaderFailedAt        = "smaint-failed-at"
	// HeaderTargetTopic names the topic an output too large for it was
	// meant for; HeaderOriginalSize gives, in bytes, a dead letter's value
	// before it was truncated to fit.
	HeaderTargetTopic  = "smaint-target-topic"
	HeaderOriginalSize = "smaint-original-size"
)

// Emitter collects what a stage produces from one batch: records for its
// Outputs and rejected inputs for the dead-letter topic. Nothing reaches
// Kafka until Process returns without error. An Emitter is used by one
// goroutine at a time.
type Emitter struct {
	stage    string
	dlqTopic string
	now      func() time.Time
	behind   func(context.Context, TopicPartition) bool // the runner's; nil: never behind
	// maxRecord is the largest record the brokers take (MaxRecordBytes);
	// an output over it becomes a dead letter. 0: no limit.
	maxRecord int

	raw      []*kgo.Record // the batch's decoded inputs, by index into in
	recs     []kgo.Record  // outputs and dead letters, in emit order
	recsHW   highWater     // of len(recs), to let go of room a burst left
	arena    arena
	dlq      [numKinds]int
	rejected []Rejected // what Reject was given, for Local
	encErr   error
}

// Reject sends input i of the current batch to the dead-letter topic with
// err as the reason. Out-of-range indexes (there are no inputs in Tick) are
// ignored.
func (e *Emitter) Reject(i int, err error) {
	if i < 0 || i >= len(e.raw) {
		return
	}
	e.rejected = append(e.rejected, Rejected{Index: i, Kind: kindNames[errorKind(err)], Err: err})
	e.deadLetter(e.raw[i], err)
}

// Behind reports whether input of tp is known to be waiting beyond what
// the stage has been given: the runner's last fetch of tp ended short of
// the partition's high watermark, or (reading committed records only) a
// transaction is open on tp, so records an upstream producer wrote are
// held until it commits or aborts. A stage that acts when its input goes
// quiet (closing the windows of an idle partition) checks it, so that a
// partition counts as quiet only once it has been read to its end, never
// because processing fell behind on a busy machine, nor because an
// upstream instance crashed mid-transaction (the transaction ends when
// that instance restarts, or at the broker's transaction timeout).
//
// The open-transaction check asks the broker (once per topic in a call of
// Process or Tick, for all its partitions), so Behind may block for a
// round trip; call it only once the cheaper reasons to act have been
// checked. If the broker cannot answer, only the fetch counts; if ctx has
// ended, Behind says yes. Local and Offline are never behind.
func (e *Emitter) Behind(ctx context.Context, tp TopicPartition) bool {
	return e.behind != nil && e.behind(ctx, tp)
}

// Len returns the number of records emitted so far, dead letters included.
func (e *Emitter) Len() int { return len(e.recs) }

// emit queues v for topic, at partition p, or by key if p < 0.
func (e *Emitter) emit(topic string, p int32, key string, enc *schemas.Encoder, v schemas.Record, readingID string) {
	if enc == nil {
		panic(fmt.Sprintf("pipeline: output %s emitted to before its runner bound it (is it in the stage's Outputs()?)", topic))
	}
	val, err := e.arena.encode(enc, v)
	if err != nil {
		if e.encErr == nil {
			e.encErr = fmt.Errorf("encode for %s: %w", topic, err)
		}
		return
	}
	k := e.arena.copy(key)
	var hs []kgo.RecordHeader
	if readingID != "" {
		hs = []kgo.RecordHeader{{Key: HeaderReadingID, Value: e.arena.copy(readingID)}}
	}
	if size := recordSize(k, val, hs); e.maxRecord > 0 && size > e.maxRecord {
		e.tooLarge(topic, k, val, size)
		return
	}
	r := kgo.Record{Topic: topic, Key: k, Value: val, Headers: hs}
	if p >= 0 {
		r.Partition, r.Context = p, placed
	}
	e.recs = append(e.recs, r)
}

// recordSize is about what a record takes in a batch of its own, as the
// brokers count it against max.message.bytes: the batch header, the
// record's framing, its key, value and headers.
func recordSize(key, value []byte, headers []kgo.RecordHeader) int {
	n := 61 + 32 + len(key) + len(value)
	for _, h := range headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// tooLarge sends, instead of an output of size bytes over the limit, a
// dead letter: its key, its value truncated (see fit), and why.
func (e *Emitter) tooLarge(topic string, key, val []byte, size int) {
	err := fmt.Errorf("%w: an output for %s of %d bytes, over the %d bytes the brokers take (MaxRecordBytes)", ErrTooLarge, topic, size, e.maxRecord)
	e.dlq[errorKind(err)]++
	hs := []kgo.RecordHeader{
		{Key: HeaderStage, Value: []byte(e.stage)},
		{Key: HeaderError, Value: []byte(err.Error())},
		{Key: HeaderErrorKind, Value: []byte(KindTooLarge)},
		{Key: HeaderTargetTopic, Value: []byte(topic)},
		{Key: HeaderFailedAt, Value: e.now().UTC().AppendFormat(nil, time.RFC3339Nano)},
	}
	e.recs = append(e.recs, e.fit(kgo.Record{Topic: e.dlqTopic, Key: key, Value: val, Headers: hs}))
}

// deadLetterValueMax bounds a dead letter's value: beyond it, the value is
// truncated, and HeaderOriginalSize says how long it was.
const deadLetterValueMax = 64 << 10

// fit truncates a dead letter's key, value and header values so that it
// fits the limit, keeping the start of each and saying how long the value
// was (HeaderOriginalSize): a record too large for the brokers must not
// also make its dead letter too large.
func (e *Emitter) fit(r kgo.Record) kgo.Record {
	limit := deadLetterValueMax
	if e.maxRecord > 0 {
		limit = min(limit, e.maxRecord/4)
	}
	clip := func(b []byte) []byte {
		if len(b) > limit/16 {
			return b[: limit/16 : limit/16]
		}
		return b
	}
	r.Key = clip(r.Key)
	for i := range r.Headers {
		r.Headers[i].Value = clip(r.Headers[i].Value)
	}
	if len(r.Value) > limit {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderOriginalSize, Value: strconv.AppendInt(nil, int64(len(r.Value)), 10)})
		r.Value = r.Value[:limit:limit]
	}
	return r
}

func (e *Emitter) deadLetter(src *kgo.Record, err error) {
	kind := errorKind(err)
	e.dlq[kind]++
	hs := make([]kgo.RecordHeader, 0, len(src.Headers)+7)
	hs = append(hs, src.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderStage, Value: []byte(e.stage)},
		kgo.RecordHeader{Key: HeaderError, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderErrorKind, Value: []byte(kindNames[kind])},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(src.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(src.Partition), 10)},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, src.Offset, 10)},
		kgo.RecordHeader{Key: HeaderFailedAt, Value: e.now().UTC().AppendFormat(nil, time.RFC3339Nano)},
	)
	e.recs = append(e.recs, e.fit(kgo.Record{Topic: e.dlqTopic, Key: src.Key, Value: src.Value, Headers: hs}))
}

// reset readies the Emitter for a new batch whose decoded inputs are raw.
func (e *Emitter) reset(raw []*kgo.Record) {
	e.raw = raw
	clear(e.recs)
	if e.recsHW.note(len(e.recs), cap(e.recs), 1024) {
		e.recs = make([]kgo.Record, 0, e.recsHW.n)
	}
	e.recs = e.recs[:0]
	e.arena.reset()
	e.dlq = [numKinds]int{}
	e.rejected = nil
	e.encErr = nil
}

// deadLetterAll is what a batch-level panic p leaves: what was emitted
// since m is dropped (a stage that panicked midway cannot vouch for it)
// and each of the batch's n inputs goes to the dead-letter topic. It
// returns the panic as an error wrapping ErrPanic.
func (e *Emitter) deadLetterAll(m emitMark, n int, p any) error {
	e.discard(m)
	perr := fmt.Errorf("%w: %v", ErrPanic, p)
	for i := range n {
		e.Reject(i, perr)
	}
	return perr
}

// emitMark is a point in an Emitter's history to discard back to.
type emitMark struct {
	recs, rejected int
	dlq            [numKinds]int
}

func (e *Emitter) mark() emitMark {
	return emitMark{recs: len(e.recs), rejected: len(e.rejected), dlq: e.dlq}
}

// discard drops everything emitted since m (a failed Process attempt).
func (e *Emitter) discard(m emitMark) {
	clear(e.recs[m.recs:])
	e.recs = e.recs[:m.recs]
	e.rejected = e.rejected[:m.rejected]
	e.dlq = m.dlq
	e.encErr = nil
}

// highWater follows how much of a reused buffer recent batches needed: the
// most any needed, decaying by an eighth at each reset (a runner resets a
// batch's emitter when it takes the batch and when it gives it back, so
// about a quarter a batch). A buffer that a burst
// (a backlog, thousands of windows closing at once) grew is let go once it
// is over twice that, so that a runner's idle batches do not each hold
// room for the largest batch they ever saw.
type highWater struct{ n int }

// note records that a batch used used of capacity capacity, and reports
// whether the buffer should be cut to n. slack is room always allowed.
func (h *highWater) note(used, capacity, slack int) bool {
	h.n = max(used, h.n-(h.n+7)/8)
	return capacity > 2*h.n+slack
}

// arena hands out byte slices for encoded keys and values from a few large
// chunks, which are reused once the batch they served is acknowledged.
type arena struct {
	chunks [][]byte
	cur    int
	hw     highWater // of chunks used
}

const arenaChunk = 256 << 10

func (a *arena) reset() {
	used := a.cur // chunks are filled in order; the current one may be empty
	if a.cur < len(a.chunks) && len(a.chunks[a.cur]) > 0 {
		used++
	}
	if a.hw.note(used, len(a.chunks), 1) {
		clear(a.chunks[a.hw.n:])
		a.chunks = a.chunks[:a.hw.n]
	}
	for i := range a.chunks {
		a.chunks[i] = a.chunks[i][:0]
	}
	a.cur = 0
}

// room returns the current chunk, moving to a fresh one when fewer than
// need bytes are left in it.
func (a *arena) room(need int) []byte {
	for ; a.cur < len(a.chunks); a.cur++ {
		if c := a.chunks[a.cur]; cap(c)-len(c) >= need {
			return c
		}
	}
	a.chunks = append(a.chunks, make([]byte, 0, max(arenaChunk, need)))
	return a.chunks[a.cur]
}

func (a *arena) encode(enc *schemas.Encoder, v schemas.Record) ([]byte, error) {
	c := a.room(1024)
	start := len(c)
	b, err := enc.Append(c, v)
	if err != nil {
		return nil, err
	}
	if cap(b) != cap(c) { // outgrew the chunk: b is a fresh allocation of its own
		return b[start:len(b):len(b)], nil
	}
	a.chunks[a.cur] = b
	return b[start:len(b):len(b)], nil
}

func (a *arena) copy(s string) []byte {
	if s == "" {
		return nil
	}
	c := a.room(len(s))
	start := len(c)
	c = append(c, s...)
	a.chunks[a.cur] = c
	return c[start:len(c):len(c)]
}
