package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/schemas"
)

// Topics names every topic of the pipeline. The zero value is not useful;
// start from DefaultTopics.
type Topics struct {
	Readings  string // raw readings from producers
	Clean     string // deduplicated, validated readings
	Features  string
	Scores    string
	Drift     string
	Forecasts string
	Alerts    string
	// AssetFeatures are the feature windows again, keyed by asset, so
	// that an asset's sensors meet in one partition; Predictions are the
	// supervised models' verdicts per asset.
	AssetFeatures string
	Predictions   string
	RULState      string // the remaining-life stage's state: each asset's run start (compacted)
	ForecastState string // the forecast stage's state: each sensor's daily cycle (compacted)
	ScoreState    string // the score stage's state: each sensor's daily cycle, as the robust detector learnt it (compacted)
	// Maintenance is the work done on assets, as their operators record
	// it (any producer, any partitioner): the rul stage reads all of it.
	Maintenance  string
	Retrain      string
	ModelUpdates string
	Late         string // readings that arrived after their window closed
	DLQ          string // undecodable or invalid input, with error headers
}

// DefaultTopics returns the topic names of DESIGN.md.
func DefaultTopics() Topics {
	return Topics{
		Readings:      "sensor.readings",
		Clean:         "sensor.readings.clean",
		Features:      "sensor.features",
		Scores:        "sensor.scores",
		Drift:         "sensor.drift",
		Forecasts:     "sensor.forecasts",
		Alerts:        "maintenance.alerts",
		AssetFeatures: "asset.features",
		Predictions:   "asset.predictions",
		RULState:      "asset.rul.state",
		ForecastState: "sensor.forecast.state",
		ScoreState:    "sensor.score.state",
		Maintenance:   "asset.maintenance",
		Retrain:       "model.retrain",
		ModelUpdates:  "model.updates",
		Late:          "sensor.readings.late",
		DLQ:           "sensor.dlq",
	}
}

// All lists the topic names.
func (t Topics) All() []string {
	return []string{t.Readings, t.Clean, t.Features, t.Scores, t.Drift, t.Forecasts, t.Alerts,
		t.Retrain, t.ModelUpdates, t.Late, t.DLQ, t.AssetFeatures, t.Predictions, t.RULState, t.ForecastState, t.ScoreState, t.Maintenance}
}

// TopicNames are the names by which --topic NAME=TOPIC overrides a topic,
// in All's order.
var TopicNames = []string{"readings", "clean", "features", "scores", "drift", "forecasts", "alerts", "retrain", "model-updates", "late", "dlq",
	"asset-features", "predictions", "rul-state", "forecast-state", "score-state", "maintenance"}

func (t *Topics) fields() []*string {
	return []*string{&t.Readings, &t.Clean, &t.Features, &t.Scores, &t.Drift, &t.Forecasts, &t.Alerts,
		&t.Retrain, &t.ModelUpdates, &t.Late, &t.DLQ, &t.AssetFeatures, &t.Predictions, &t.RULState, &t.ForecastState, &t.ScoreState, &t.Maintenance}
}

// WithPrefix returns t with prefix before every topic name, so that
// deployments with different prefixes share a cluster without sharing a
// topic.
func (t Topics) WithPrefix(prefix string) Topics {
	for _, f := range t.fields() {
		*f = prefix + *f
	}
	return t
}

// Set names the topic called name (one of TopicNames) topic.
func (t *Topics) Set(name, topic string) error {
	i := slices.Index(TopicNames, name)
	switch {
	case i < 0:
		return fmt.Errorf("%w: no topic called %q (want one of %s)", ErrConfig, name, strings.Join(TopicNames, ", "))
	case !validTopic(topic):
		return fmt.Errorf("%w: %q is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)", ErrConfig, topic)
	}
	*t.fields()[i] = topic
	return nil
}

// Validate reports a topic name Kafka would refuse, or two topics with
// one name.
func (t Topics) Validate() error {
	seen := map[string]string{}
	for i, topic := range t.All() {
		if !validTopic(topic) {
			return fmt.Errorf("%w: topic %s: %q is not a valid Kafka topic name (1-249 of a-z A-Z 0-9 . _ -)", ErrConfig, TopicNames[i], topic)
		}
		if other, ok := seen[topic]; ok {
			return fmt.Errorf("%w: topics %s and %s are both %q", ErrConfig, other, TopicNames[i], topic)
		}
		seen[topic] = TopicNames[i]
	}
	return nil
}

func validTopic(s string) bool {
	if len(s) == 0 || len(s) > 249 || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Records returns the record schema of each topic that holds Avro
// records (every topic but the dead-letter one, which holds whatever was
// refused), in All's order.
func (t Topics) Records() []TopicRecord {
	return []TopicRecord{
		{t.Readings, schemas.SensorReadingSchema}, {t.Clean, schemas.SensorReadingSchema}, {t.Features, schemas.FeatureVectorSchema},
		{t.Scores, schemas.AnomalyScoreSchema}, {t.Drift, schemas.DriftReportSchema}, {t.Forecasts, schemas.ForecastSchema}, {t.Alerts, schemas.AlertSchema},
		{t.Retrain, schemas.RetrainEventSchema}, {t.ModelUpdates, schemas.ModelUpdatedSchema}, {t.Late, schemas.SensorReadingSchema},
		{t.AssetFeatures, schemas.FeatureVectorSchema}, {t.Predictions, schemas.PredictionSchema}, {t.RULState, schemas.StageStateSchema},
		{t.ForecastState, schemas.StageStateSchema}, {t.ScoreState, schemas.StageStateSchema}, {t.Maintenance, schemas.MaintenanceSchema},
	}
}

// TopicRecord is a topic and the schema of its records.
type TopicRecord struct {
	Topic  string
	Schema *schemas.Schema
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

// EnsureCompacted creates topic, unless it exists, compacted: the last
// record of each key is kept however old (a state topic).
func EnsureCompacted(ctx context.Context, cl *kgo.Client, partitions int32, rf int16, topic string) error {
	compact := "compact"
	return ensureWith(ctx, cl, partitions, rf, map[string]*string{"cleanup.policy": &compact}, topic)
}

// EnsureKept creates topic, unless it exists, keeping every record however
// old (retention.ms -1): a topic its readers read whole from its start,
// where an old record may still matter (asset.maintenance).
func EnsureKept(ctx context.Context, cl *kgo.Client, partitions int32, rf int16, topic string) error {
	forever := "-1"
	return ensureWith(ctx, cl, partitions, rf, map[string]*string{"retention.ms": &forever}, topic)
}

func ensureWith(ctx context.Context, cl *kgo.Client, partitions int32, rf int16, configs map[string]*string, topic string) error {
	resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, rf, configs, topic)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
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

// ReadTopic hands fn every record of topic, in offset order per
// partition, from the start of each partition to its end at the time of
// the call, with a client of opts outside any consumer group; transaction
// markers are left out. committed reads as a downstream stage does: to
// the last stable offset, without the records of aborted transactions.
// Otherwise it reads everything written, to the high watermark. A topic
// that does not exist reads as empty. It is for tools and tests that
// check what a topic holds, not for processing.
func ReadTopic(ctx context.Context, topic string, committed bool, fn func(*kgo.Record), opts ...kgo.Opt) error {
	return readPartitions(ctx, topic, nil, committed, fn, opts...)
}

// readPartitions is ReadTopic of the partitions only (nil: all).
func readPartitions(ctx context.Context, topic string, only []int32, committed bool, fn func(*kgo.Record), opts ...kgo.Opt) error {
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	list, isolation := kadm.NewClient(adm).ListEndOffsets, kgo.ReadUncommitted()
	if committed {
		list, isolation = kadm.NewClient(adm).ListCommittedOffsets, kgo.ReadCommitted()
	}
	ends, err := list(ctx, topic)
	adm.Close()
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	parts := map[int32]kgo.Offset{}
	ends.Each(func(e kadm.ListedOffset) {
		if e.Offset > 0 && (only == nil || slices.Contains(only, e.Partition)) {
			want[e.Partition] = e.Offset
			parts[e.Partition] = kgo.NewOffset().AtStart()
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(isolation), kgo.KeepControlRecords())...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return fmt.Errorf("reading %s: %w", topic, ctx.Err())
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil {
				ferr = fmt.Errorf("reading %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				fn(r)
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return nil
}
