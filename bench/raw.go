package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rawPassthrough is the baseline the pipeline is compared with: the
// records of src, as they are, consumed in a consumer group of its own and
// produced to dst, one batch at a time: produce, wait for the acks, commit
// (the simplest at-least-once loop; no decoding, no stage). It reads every
// record src holds when it starts and returns how many and the seconds
// from the first fetch that returned records to the last commit, so the
// group's join is not counted, as the pipeline's is not.
func rawPassthrough(ctx context.Context, opts []kgo.Opt, src, dst, group string) (int64, float64, error) {
	admin, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, 0, err
	}
	defer admin.Close()
	want, err := topicRecords(ctx, admin, src)
	if err != nil || want == 0 {
		return 0, 0, err
	}
	// Ten minutes is far beyond any run of this machine's; it stops a
	// loop that can never reach want (records deleted meanwhile).
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(append(opts, kgo.ConsumerGroup(group), kgo.ConsumeTopics(src),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	var start time.Time
	var n int64
	out := make([]*kgo.Record, 0, 10_000)
	for n < want {
		fs := cl.PollRecords(ctx, 10_000)
		if ctx.Err() != nil {
			return n, 0, fmt.Errorf("raw passthrough: %d of %d records: %w", n, want, ctx.Err())
		}
		if err := fs.Err0(); err != nil {
			return n, 0, fmt.Errorf("raw passthrough: %w", err)
		}
		if start.IsZero() {
			if fs.NumRecords() == 0 {
				continue
			}
			start = time.Now() // the first records are here; this poll's wait is not counted
		}
		out = out[:0]
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, &kgo.Record{Topic: dst, Key: r.Key, Value: r.Value})
		})
		if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
			return n, 0, fmt.Errorf("raw passthrough: %w", err)
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			return n, 0, fmt.Errorf("raw passthrough: %w", err)
		}
		n += int64(len(out))
	}
	return n, time.Since(start).Seconds(), nil
}

// topicRecords returns how many records topic holds: end minus start
// offsets over its partitions.
func topicRecords(ctx context.Context, cl *kgo.Client, topic string) (int64, error) {
	adm := kadm.NewClient(cl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return 0, err
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, err
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok {
			n += o.Offset - s.Offset
		}
	})
	return n, nil
}
