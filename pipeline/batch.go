package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// batch is one poll's worth of work on its way to being committed: what
// the stage emitted, the offsets to mark once all of it is acknowledged,
// and the count of records still awaiting their produce acknowledgement.
type batch struct {
	em      Emitter
	offsets map[TopicPartition]mark
	reached map[TopicPartition]int64 // the positions, before retention: what the batch finished
	polled  time.Time

	pending atomic.Int64
	done    chan struct{}
	errMu   sync.Mutex
	err     error
	refused []refusal // records the brokers refused for what they are
	promise func(*kgo.Record, error)
}

// refusal is a record the brokers refused, and why.
type refusal struct {
	rec *kgo.Record
	err error
}

func newBatch() *batch {
	b := &batch{offsets: make(map[TopicPartition]mark), reached: make(map[TopicPartition]int64)}
	b.promise = func(r *kgo.Record, err error) {
		if err != nil {
			b.errMu.Lock()
			switch {
			case refused(err):
				b.refused = append(b.refused, refusal{r, err})
			case b.err == nil:
				b.err = err
			}
			b.errMu.Unlock()
		}
		b.release()
	}
	return b
}

// arm prepares b to wait for n acknowledgements. One extra count is held
// until the runner has handed every record to the client and calls
// release, so that fast acknowledgements cannot finish b early.
func (b *batch) arm(n int) {
	b.done = make(chan struct{})
	b.err = nil
	clear(b.refused)
	b.refused = b.refused[:0]
	b.pending.Store(int64(n) + 1)
}

func (b *batch) release() {
	if b.pending.Add(-1) == 0 {
		close(b.done)
	}
}

func (b *batch) failure() error {
	b.errMu.Lock()
	defer b.errMu.Unlock()
	return b.err
}

// setOffsets records the marks to make when b is acknowledged.
func (b *batch) setOffsets(ms map[TopicPartition]mark) {
	clear(b.offsets)
	for tp, m := range ms {
		b.offsets[tp] = m
	}
}

// setReached records the positions the batch brings the runner to.
func (b *batch) setReached(pos map[TopicPartition]kgo.EpochOffset) {
	clear(b.reached)
	for tp, eo := range pos {
		b.reached[tp] = eo.Offset
	}
}
