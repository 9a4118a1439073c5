package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/schemas"
)

// Option configures a Runner.
type Option func(*runnerConfig)

type runnerConfig struct {
	kafka        []kgo.Opt
	topics       []string
	group        string
	dlq          string
	serde        *schemas.Serde
	metrics      *Metrics
	log          *slog.Logger
	clock        Clock
	health       *Health
	maxBatch     int
	maxInflight  int
	drainTimeout time.Duration
	partitions   int32
	replication  int16
	createTopics bool
	retryMin     time.Duration
	retryMax     time.Duration
	commitEvery  time.Duration
	coPartition  bool
	groupPrefix  string
	decode       any
	fetchMax     int32
	fetchPartMax int32
	maxRecord    int32
	stallAfter   time.Duration
	instanceID   string
	session      time.Duration
	exactlyOnce  string // the instance part of the transactional id; "": at least once
}

// The default backoff between retries of a failed batch (RetryBackoff).
const (
	defaultRetryMin = 100 * time.Millisecond
	defaultRetryMax = 10 * time.Second
)

// DefaultMaxBatch is how many records a stage gets at most in one Process
// call, unless MaxBatch says otherwise.
const DefaultMaxBatch = 10_000

// DefaultMaxRecordBytes is the largest record batch a runner produces,
// and so the largest output record, unless MaxRecordBytes says otherwise:
// the Kafka producer's default (max.message.bytes is 1,048,588 on a
// broker left to its defaults).
const DefaultMaxRecordBytes = 1_000_012

func defaultRunnerConfig(name string) runnerConfig {
	return runnerConfig{
		group:        "smaint-" + name,
		dlq:          DefaultTopics().DLQ,
		maxBatch:     DefaultMaxBatch,
		maxInflight:  8,
		drainTimeout: 30 * time.Second,
		partitions:   -1,
		replication:  -1,
		createTopics: true,
		retryMin:     defaultRetryMin,
		retryMax:     defaultRetryMax,
		commitEvery:  time.Second,
		fetchMax:     4 << 20,
		fetchPartMax: 256 << 10,
		maxRecord:    DefaultMaxRecordBytes,
		stallAfter:   DefaultStallAfter,
	}
}

func (c *runnerConfig) validate() error {
	switch {
	case len(c.kafka) == 0:
		return fmt.Errorf("%w: runner: no Kafka options (use KafkaOpts)", ErrConfig)
	case len(c.topics) == 0:
		return fmt.Errorf("%w: runner: no input topics (use ConsumeTopics)", ErrConfig)
	case c.group == "":
		return fmt.Errorf("%w: runner: empty consumer group", ErrConfig)
	case c.dlq == "":
		return fmt.Errorf("%w: runner: empty dead-letter topic", ErrConfig)
	case c.maxBatch <= 0:
		return fmt.Errorf("%w: runner: max batch %d must be positive", ErrConfig, c.maxBatch)
	case c.maxInflight <= 0:
		return fmt.Errorf("%w: runner: max in-flight batches %d must be positive", ErrConfig, c.maxInflight)
	case c.fetchPartMax <= 0 || c.fetchMax < c.fetchPartMax:
		return fmt.Errorf("%w: runner: fetch limits %d bytes a fetch, %d a partition", ErrConfig, c.fetchMax, c.fetchPartMax)
	case c.maxRecord < 1024:
		return fmt.Errorf("%w: runner: max record bytes %d is under 1 KiB", ErrConfig, c.maxRecord)
	case c.session != 0 && (c.session < time.Second || c.session > 30*time.Minute):
		return fmt.Errorf("%w: runner: session timeout %v outside 1s-30m", ErrConfig, c.session)
	case c.stallAfter < 100*time.Millisecond:
		return fmt.Errorf("%w: runner: stall limit %v is under 100ms", ErrConfig, c.stallAfter)
	case c.drainTimeout <= 0:
		return fmt.Errorf("%w: runner: drain timeout must be positive", ErrConfig)
	case c.partitions == 0 || c.partitions < -1:
		return fmt.Errorf("%w: runner: %d partitions", ErrConfig, c.partitions)
	case c.commitEvery < 100*time.Millisecond:
		return fmt.Errorf("%w: runner: commit interval %v is under 100ms", ErrConfig, c.commitEvery)
	case c.retryMin <= 0 || c.retryMax < c.retryMin:
		return fmt.Errorf("%w: runner: retry backoff %v..%v", ErrConfig, c.retryMin, c.retryMax)
	}
	return nil
}

// KafkaOpts sets the franz-go options that reach the brokers (see
// KafkaConfig.Opts); the runner adds its own consumer and producer options.
func KafkaOpts(opts ...kgo.Opt) Option {
	return func(c *runnerConfig) { c.kafka = append(c.kafka, opts...) }
}

// ConsumeTopics sets the input topics.
func ConsumeTopics(topics ...string) Option {
	return func(c *runnerConfig) { c.topics = append(c.topics, topics...) }
}

// Group sets the consumer group; the default is "smaint-<stage name>".
func Group(group string) Option { return func(c *runnerConfig) { c.group = group } }

// GroupPrefix puts prefix before the consumer group's name (and so before
// the transactional ids, which are named after it), so that deployments
// with different prefixes share a cluster without sharing a group.
func GroupPrefix(prefix string) Option { return func(c *runnerConfig) { c.groupPrefix = prefix } }

// DeadLetterTopic sets where undecodable and rejected inputs go; the
// default is sensor.dlq.
func DeadLetterTopic(topic string) Option { return func(c *runnerConfig) { c.dlq = topic } }

// WithSerde sets the Serde that decodes inputs and encodes outputs; the
// default writes single-object encoding with no registry.
func WithSerde(s *schemas.Serde) Option { return func(c *runnerConfig) { c.serde = s } }

// WithMetrics sets the metrics to record into; the default is an
// unregistered set.
func WithMetrics(m *Metrics) Option { return func(c *runnerConfig) { c.metrics = m } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(c *runnerConfig) { c.log = l } }

// WithClock sets the clock given to Tick and dead-letter timestamps.
func WithClock(clk Clock) Option { return func(c *runnerConfig) { c.clock = clk } }

// WithHealth makes the runner report its readiness as "stage/<name>".
func WithHealth(h *Health) Option { return func(c *runnerConfig) { c.health = h } }

// MaxBatch caps the records handed to one Process call (default
// DefaultMaxBatch).
func MaxBatch(n int) Option { return func(c *runnerConfig) { c.maxBatch = n } }

// MaxInflightBatches caps the batches processed but not yet acknowledged
// (default 8). When the cap is reached, polling waits: that wait is the
// runner's backpressure.
func MaxInflightBatches(n int) Option { return func(c *runnerConfig) { c.maxInflight = n } }

// FetchMaxBytes bounds what one fetch from a broker returns, in all and
// per partition (defaults 4 MiB and 256 KiB, before decompression). A
// runner holds at most one fetch being decoded and one buffered per
// broker, so these bound its input memory; franz-go's defaults (50 MiB and
// 1 MiB) cost a process running five stages about 70 MiB of RSS, for no
// gain in throughput from a local broker. Raise them for brokers far away.
// The bound is soft: a broker still returns a record batch larger than
// the limit, so that it can be consumed at all.
func FetchMaxBytes(total, perPartition int32) Option {
	return func(c *runnerConfig) { c.fetchMax, c.fetchPartMax = total, perPartition }
}

// StaticMember makes the runner a static member of its group (KIP-345)
// under instanceID, which must be stable across restarts of this instance
// and unique among the group's members (a pod's name): a restarted
// instance takes its partitions back at once, without a rebalance of the
// group, if it comes back within the session timeout. Empty: a dynamic
// member.
func StaticMember(instanceID string) Option {
	return func(c *runnerConfig) { c.instanceID = instanceID }
}

// SessionTimeout is how long the group waits for a member that stopped
// heartbeating before it hands the member's partitions to others (default
// franz-go's 45s). Shorter: faster failover after a crash; too short:
// members dropped during a pause (a long garbage collection, a slow batch
// does not count: heartbeats are separate).
func SessionTimeout(d time.Duration) Option { return func(c *runnerConfig) { c.session = d } }

// ExactlyOnce makes the runner process exactly once (see txn.go): it reads
// only committed records, and commits each CommitInterval's outputs, dead
// letters, input offsets and checkpoints in one Kafka transaction, under
// the transactional id "<group>/<id>". id must be stable across restarts
// of this instance and unique among the group's members (a pod's name):
// a restart under the same id aborts, at once, the transaction its crashed
// predecessor left open, where a new id leaves that transaction to the
// broker's transaction timeout, and readers of its topics wait behind it.
// Empty: at least once (the default).
func ExactlyOnce(id string) Option {
	return func(c *runnerConfig) { c.exactlyOnce = id }
}

// txnID is the runner's transactional id, "" if it runs at least once.
func (c *runnerConfig) txnID() string {
	if c.exactlyOnce == "" {
		return ""
	}
	return c.group + "/" + c.exactlyOnce
}

// DefaultStallAfter is StallAfter's default.
const DefaultStallAfter = time.Minute

// StallAfter is how long a runner may hold one batch, in Process (retrying
// it, or blocked in it) or awaiting its acknowledgements, before it reports
// itself stalled: not ready in Health with the reason, a warning in the
// log, and smaint_stage_stalled at 1 (default DefaultStallAfter). It
// recovers by itself when the batch goes through.
func StallAfter(d time.Duration) Option { return func(c *runnerConfig) { c.stallAfter = d } }

// MaxRecordBytes bounds each record batch the runner produces, and so each
// output record (default DefaultMaxRecordBytes). It must not exceed any
// output topic's max.message.bytes: the runner checks at start. An output
// over it goes to the dead-letter topic instead (kind too_large).
func MaxRecordBytes(n int32) Option { return func(c *runnerConfig) { c.maxRecord = n } }

// DrainTimeout bounds how long Run waits, once its context ends, for the
// outputs of processed batches to be acknowledged (default 30s). Batches
// not acknowledged by then are not committed and will be consumed again.
func DrainTimeout(d time.Duration) Option { return func(c *runnerConfig) { c.drainTimeout = d } }

// CreateTopics sets the partitions and replication factor of the topics
// the runner creates on start (its inputs, outputs and dead-letter topic,
// when missing). -1 means the broker's default.
func CreateTopics(partitions int32, replication int16) Option {
	return func(c *runnerConfig) { c.createTopics, c.partitions, c.replication = true, partitions, replication }
}

// NoCreateTopics makes the runner expect its topics to exist.
func NoCreateTopics() Option { return func(c *runnerConfig) { c.createTopics = false } }

// RetryBackoff sets the wait before retrying a batch whose Process failed:
// it starts at min and doubles up to max (defaults 100ms and 10s).
func RetryBackoff(minWait, maxWait time.Duration) Option {
	return func(c *runnerConfig) { c.retryMin, c.retryMax = minWait, maxWait }
}

// CommitInterval sets how often acknowledged offsets are committed
// (default 1s, at least 100ms). Shorter means less input consumed again
// after a crash. Under ExactlyOnce it is how often the transaction is
// committed, and so how long, at most, downstream readers wait to see an
// output.
func CommitInterval(d time.Duration) Option { return func(c *runnerConfig) { c.commitEvery = d } }

// CoPartitioned makes the group assign partition i of every input topic
// to the same member (Kafka's range assignment), for a stage that joins
// its topics by key: given equal partition counts and keys, one member
// sees all of a key's records.
func CoPartitioned() Option { return func(c *runnerConfig) { c.coPartition = true } }

// DecodeFunc decodes one input value of topic into dst, overwriting every
// field of dst.
type DecodeFunc[T any] func(ctx context.Context, d *schemas.Decoder, topic string, value []byte, dst *T) error

// DecodeWith sets how inputs are decoded. It is needed when T is not a
// schemas record type: a stage that reads several topics of different
// records, say. It must be given the same T as the Runner.
func DecodeWith[T any](fn DecodeFunc[T]) Option {
	return func(c *runnerConfig) { c.decode = fn }
}

// decoderFor returns fn, the decoder DecodeWith was given (nil: decode T
// as the schemas record it must then be), for the stage named name.
func decoderFor[T any](name string, fn any) (DecodeFunc[T], error) {
	switch fn := fn.(type) {
	case nil:
		if _, ok := any((*T)(nil)).(schemas.Record); !ok {
			return nil, fmt.Errorf("%w: stage %s: %T is not a schemas record; use DecodeWith", ErrConfig, name, *new(T))
		}
		return func(ctx context.Context, d *schemas.Decoder, _ string, b []byte, v *T) error {
			return d.Decode(ctx, b, any(v).(schemas.Record))
		}, nil
	case DecodeFunc[T]:
		if fn == nil {
			return decoderFor[T](name, nil)
		}
		return fn, nil
	}
	return nil, fmt.Errorf("%w: stage %s: DecodeWith given %T, want DecodeFunc[%T]", ErrConfig, name, fn, *new(T))
}

// KafkaOf returns the Kafka client options that opts carry (KafkaOpts),
// for tools that read a topic with ReadTopic on a runner's connection.
func KafkaOf(opts ...Option) []kgo.Opt {
	var c runnerConfig
	for _, o := range opts {
		o(&c)
	}
	return c.kafka
}
