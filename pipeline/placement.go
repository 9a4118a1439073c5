package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Placement: where a stage's outputs go.
//
// A stage writes each sensor's records to the partition number its input
// came from (Output.EmitAt), so a sensor has one partition number in every
// topic, the one its producer chose for it in sensor.readings. That keeps
// event time independent of how producers partition: each partition of
// every topic carries the readings, windows, scores and alerts of exactly
// the sensors of one partition of the input, in the order the producer
// wrote them, whichever partitioner the producer used (murmur2 in Java and
// franz-go, CRC32 in librdkafka, anything else). Re-keying by sensor id
// instead would merge several input partitions into each output partition;
// when they progress at different event times (a backlog, a slow gateway)
// the merged stream's watermark runs ahead of the slower ones and their
// on-time readings turn late.
//
// Where the output topic has fewer partitions than the input, the records
// of the partitions it lacks are placed by key instead (murmur2, as the
// Java client does). Records emitted with Emit are placed by key.

// placed marks, in a record's Context, a record whose Partition was set
// by the stage.
var placed = context.WithValue(context.Background(), placedKey{}, true)

type placedKey struct{}

// placer is the runners' partitioner: a record marked placed goes to its
// Partition if the topic has it; every other record, and a placed one
// whose partition the topic lacks, goes by key (franz-go's
// StickyKeyPartitioner, which hashes keys as Kafka's Java client does).
type placer struct{ byKey kgo.Partitioner }

func newPlacer() kgo.Partitioner { return placer{kgo.StickyKeyPartitioner(nil)} }

func (p placer) ForTopic(topic string) kgo.TopicPartitioner {
	return &placerTopic{byKey: p.byKey.ForTopic(topic)}
}

type placerTopic struct{ byKey kgo.TopicPartitioner }

// OnNewBatch passes on the sticky partitioner's signal (for records
// without a key).
func (t *placerTopic) OnNewBatch() {
	if nb, ok := t.byKey.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

func (t *placerTopic) RequiresConsistency(r *kgo.Record) bool {
	return r.Context == placed || t.byKey.RequiresConsistency(r)
}

func (t *placerTopic) Partition(r *kgo.Record, n int) int {
	if r.Context == placed {
		if p := int(r.Partition); p >= 0 && p < n {
			return p
		}
	}
	return t.byKey.Partition(r, n)
}

// warnNarrowOutputs logs, once at start, each output topic with fewer
// partitions than an input: the records of the inputs' other partitions
// are placed by key there, merged with others, and a downstream watermark
// may then run ahead of them. A topic that cannot be described is left
// out: this only informs.
func warnNarrowOutputs(ctx context.Context, cl *kgo.Client, log *slog.Logger, inputs, outputs []string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	details, err := kadm.NewClient(cl).ListTopics(ctx, append(append([]string(nil), inputs...), outputs...)...)
	if err != nil {
		return
	}
	for _, in := range inputs {
		n := len(details[in].Partitions)
		for _, out := range outputs {
			if m := len(details[out].Partitions); m > 0 && m < n {
				log.Warn("an output topic has fewer partitions than the input: records of the partitions it lacks are placed by key, merged with others, and may turn late downstream; give it at least as many",
					"input", in, "input_partitions", n, "output", out, "output_partitions", m)
			}
		}
	}
}
