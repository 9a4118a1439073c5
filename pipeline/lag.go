package pipeline

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// GroupLag returns how many records of topics group has not committed
// yet: the sum over their partitions of end offset minus committed offset
// (the whole partition where the group committed nothing).
func GroupLag(ctx context.Context, cl *kgo.Client, group string, topics ...string) (int64, error) {
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return 0, fmt.Errorf("end offsets: %w", err)
	}
	committed, err := adm.FetchOffsetsForTopics(ctx, group, topics...)
	if err != nil {
		return 0, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	var lag int64
	ends.Each(func(e kadm.ListedOffset) {
		c, ok := committed.Lookup(e.Topic, e.Partition)
		switch {
		case !ok || c.Err != nil || c.At < 0:
			lag += e.Offset
		case c.At < e.Offset:
			lag += e.Offset - c.At
		}
	})
	return lag, nil
}
