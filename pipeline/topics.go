package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topics names every topic of the pipeline. The zero value is not useful;
// start from DefaultTopics.
type Topics struct {
	Readings     string // raw readings from producers
	Clean        string // deduplicated, validated readings
	Features     string
	Scores       string
	Drift        string
	Alerts       string
	Retrain      string
	ModelUpdates string
	Late         string // readings that arrived after their window closed
	DLQ          string // undecodable or invalid input, with error headers
}

// DefaultTopics returns the topic names of DESIGN.md.
func DefaultTopics() Topics {
	return Topics{
		Readings:     "sensor.readings",
		Clean:        "sensor.readings.clean",
		Features:     "sensor.features",
		Scores:       "sensor.scores",
		Drift:        "sensor.drift",
		Alerts:       "maintenance.alerts",
		Retrain:      "model.retrain",
		ModelUpdates: "model.updates",
		Late:         "sensor.readings.late",
		DLQ:          "sensor.dlq",
	}
}

// All lists the topic names.
func (t Topics) All() []string {
	return []string{t.Readings, t.Clean, t.Features, t.Scores, t.Drift, t.Alerts,
		t.Retrain, t.ModelUpdates, t.Late, t.DLQ}
}

// DefaultPartitions is how many partitions smaint gives the topics it
// creates, unless told otherwise.
const DefaultPartitions = 6

// EnsureTopics creates the topics that do not exist yet, with partitions
// partitions and replication factor rf (-1 for either means the broker's
// default). Existing topics are left as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, partitions int32, rf int16, topics ...string) error {
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, rf, nil, dedupeStrings(topics)...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range resp {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}

func dedupeStrings(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// reachedEnds reports whether, on every partition of topics that holds
// records, at has reached the partition's end offset as of now.
func reachedEnds(ctx context.Context, cl *kgo.Client, topics []string, at func(TopicPartition) int64) (bool, error) {
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, err
	}
	reached := true
	ends.Each(func(e kadm.ListedOffset) {
		if e.Offset > 0 && at(TopicPartition{e.Topic, e.Partition}) < e.Offset {
			reached = false
		}
	})
	return reached, nil
}
