package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// checkRecordLimits checks that each topic takes records of max bytes:
// that its max.message.bytes is not under it. A topic that takes less
// would refuse whole batches, valid records with the large one, and the
// runner would stop on every restart; this says so at the start instead,
// with the fix. Topics whose configuration cannot be read (no
// DescribeConfigs right, say) are logged and trusted.
func checkRecordLimits(ctx context.Context, cl *kgo.Client, max int32, log *slog.Logger, topics ...string) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	rcs, err := kadm.NewClient(cl).DescribeTopicConfigs(cctx, topics...)
	if err != nil {
		log.Warn("could not read the topics' max.message.bytes; trusting MaxRecordBytes", "topics", topics, "err", err)
		return nil
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			log.Warn("could not read a topic's max.message.bytes; trusting MaxRecordBytes", "topic", rc.Name, "err", rc.Err)
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if n, err := strconv.ParseInt(*c.Value, 10, 32); err == nil && n < int64(max) {
				return fmt.Errorf("%w: topic %s takes records of at most %d bytes (max.message.bytes), under the %d a stage may write (--max-record-bytes): lower --max-record-bytes to %d, or raise the topic's max.message.bytes",
					ErrConfig, rc.Name, n, max, n)
			}
		}
	}
	return nil
}
