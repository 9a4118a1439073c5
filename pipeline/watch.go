package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Observed is one record a Watcher read.
type Observed struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time // the record's: when its producer made it
	Key       []byte    // Key and Value are valid only during the call
	Value     []byte
}

// Watcher reads topics from their start, outside any consumer group, and
// hands every record to a function: for those who watch the pipeline's
// outputs (the demo's check, the benchmark's latency probe), not for
// processing, which wants a Runner and its commits. It sees what a stage
// downstream sees: committed records only (see ExactlyOnce). Run and CaughtUp may
// be called from different goroutines; fn is called from Run's.
type Watcher struct {
	cl     *kgo.Client
	topics []string
	fn     func(*Observed)

	mu   sync.Mutex
	next map[TopicPartition]int64 // offset after the last record handed to fn
}

// NewWatcher returns a Watcher of topics that calls fn. Of opts, only
// KafkaOpts applies (and is required).
func NewWatcher(fn func(*Observed), topics []string, opts ...Option) (*Watcher, error) {
	var cfg runnerConfig
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.kafka) == 0 || len(topics) == 0 || fn == nil {
		return nil, fmt.Errorf("%w: a watcher needs Kafka options, topics and a function", ErrConfig)
	}
	cl, err := kgo.NewClient(append(cfg.kafka, kgo.ConsumeTopics(topics...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return nil, fmt.Errorf("%w: watcher: %w", ErrConfig, err)
	}
	return &Watcher{cl: cl, topics: topics, fn: fn, next: map[TopicPartition]int64{}}, nil
}

// Run reads until ctx ends, then closes the Watcher's client.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.cl.Close()
	var o Observed
	for {
		fs := w.cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachRecord(func(r *kgo.Record) {
			if !r.Attrs.IsControl() {
				o = Observed{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
				w.fn(&o)
			}
			w.mu.Lock()
			w.next[TopicPartition{r.Topic, r.Partition}] = r.Offset + 1
			w.mu.Unlock()
		})
	}
}

// CaughtUp reports whether every record of the topics, up to their end
// offsets as of now, has been handed to fn.
func (w *Watcher) CaughtUp(ctx context.Context) (bool, error) {
	return reachedEnds(ctx, w.cl, w.topics, func(tp TopicPartition) int64 {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.next[tp]
	})
}
