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
	offsets map[string]map[int32]kgo.EpochOffset
	polled  time.Time

	pending atomic.Int64
	done    chan struct{}
	errMu   sync.Mutex
	err     error
	promise func(*kgo.Record, error)
}

func newBatch() *batch {
	b := &batch{offsets: make(map[string]map[int32]kgo.EpochOffset)}
	b.promise = func(_ *kgo.Record, err error) {
		if err != nil {
			b.errMu.Lock()
			if b.err == nil {
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

// setOffsets records the offsets to mark when b is acknowledged.
func (b *batch) setOffsets(pos map[TopicPartition]kgo.EpochOffset) {
	for _, ps := range b.offsets {
		clear(ps)
	}
	for tp, eo := range pos {
		ps := b.offsets[tp.Topic]
		if ps == nil {
			ps = make(map[int32]kgo.EpochOffset)
			b.offsets[tp.Topic] = ps
		}
		ps[tp.Partition] = eo
	}
}
