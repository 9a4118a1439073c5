package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rawPassthrough is the limit the pipeline is compared with: the records
// of src, as they are, consumed in a consumer group and produced to dst,
// offsets committed after each batch is acknowledged; no decoding and no
// stage. It reads to the end offsets src has when it starts and returns
// the records and seconds that took.
func rawPassthrough(ctx context.Context, opts []kgo.Opt, src, dst string) (int64, float64, error) {
	admin, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, 0, err
	}
	defer admin.Close()
	ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, src)
	if err != nil {
		return 0, 0, err
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	if want == 0 {
		return 0, 0, nil
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumerGroup("smaint-bench-raw"), kgo.ConsumeTopics(src),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ProducerLinger(5*time.Millisecond))...)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	start := time.Now()
	var n int64
	out := make([]*kgo.Record, 0, 10_000)
	for n < want {
		fs := cl.PollRecords(ctx, 10_000)
		if ctx.Err() != nil {
			return n, time.Since(start).Seconds(), ctx.Err()
		}
		if err := fs.Err0(); err != nil {
			return n, 0, fmt.Errorf("raw passthrough: %w", err)
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
