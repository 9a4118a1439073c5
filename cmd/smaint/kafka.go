package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// kafkaFlags are the flags that say how to reach Kafka and the registry.
type kafkaFlags struct {
	cfg         pipeline.KafkaConfig
	partitions  int
	replication int
	names       nameFlags
}

// nameFlags name the topics and groups, so that deployments share a
// cluster side by side.
type nameFlags struct {
	topicPrefix, groupPrefix string
	overrides                []string // NAME=TOPIC
}

func (n *nameFlags) register(fs *flagSet) {
	fs.StringVar(&n.topicPrefix, "topic-prefix", "", "put this before every topic name (plant1. gives plant1.sensor.readings, ...): deployments with different prefixes share a cluster without touching each other's topics")
	fs.Var(funcValue{show: func() string { return strings.Join(n.overrides, ",") }, set: func(s string) error {
		n.overrides = append(n.overrides, s)
		return nil
	}}, "topic", "NAME=TOPIC: call one topic TOPIC, whatever the prefix; repeatable; NAME is one of "+strings.Join(pipeline.TopicNames, ", "))
	fs.StringVar(&n.groupPrefix, "group-prefix", "", "put this before every consumer group (and so transactional id) name: groups are <prefix>smaint-<stage>")
}

// topics returns the topic names the flags give.
func (n *nameFlags) topics() (pipeline.Topics, error) {
	t := pipeline.DefaultTopics().WithPrefix(n.topicPrefix)
	for _, o := range n.overrides {
		name, topic, ok := strings.Cut(o, "=")
		if !ok {
			return t, fmt.Errorf("%w: --topic %q: want NAME=TOPIC", errUsage, o)
		}
		if err := t.Set(name, topic); err != nil {
			return t, fmt.Errorf("%w: --topic: %w", errUsage, err)
		}
	}
	if err := t.Validate(); err != nil {
		return t, fmt.Errorf("%w: %w", errUsage, err)
	}
	return t, nil
}

func (k *kafkaFlags) register(fs *flagSet) {
	fs.Var((*listFlag)(&k.cfg.Brokers), "brokers", "Kafka seed brokers, host:port[,host:port...]")
	fs.alias("brokers", "KAFKA_BROKERS")
	fs.StringVar(&k.cfg.SASLMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&k.cfg.SASLUser, "sasl-user", "", "SASL user")
	fs.StringVar(&k.cfg.SASLPassword, "sasl-password", "", "SASL password")
	fs.secret("sasl-password")
	fs.BoolVar(&k.cfg.TLS, "tls", false, "connect to the brokers with TLS")
	fs.StringVar(&k.cfg.TLSCAFile, "tls-ca", "", "PEM file of the CA that signed the brokers' certificates (default: system roots)")
	fs.StringVar(&k.cfg.TLSCertFile, "tls-cert", "", "PEM client certificate, for mutual TLS")
	fs.StringVar(&k.cfg.TLSKeyFile, "tls-key", "", "PEM client key, for mutual TLS")
	fs.BoolVar(&k.cfg.TLSInsecureSkipVerify, "tls-insecure", false, "do not verify the brokers' certificates (testing only)")
	fs.StringVar(&k.cfg.Registry, "registry", "", "schema registry URL; without one, records use Avro single-object encoding")
	fs.StringVar(&k.cfg.RegistryUser, "registry-user", "", "schema registry basic-auth user")
	fs.StringVar(&k.cfg.RegistryPassword, "registry-password", "", "schema registry basic-auth password")
	fs.secret("registry-password")
	fs.Var(funcValue{show: func() string { return k.cfg.Subjects.String() }, set: func(s string) error {
		st, err := schemas.ParseSubjectStrategy(s)
		k.cfg.Subjects = st
		return err
	}}, "subject-strategy", "how registry subjects are named: topic (<topic>-value), record (io.smaint.v1.SensorReading) or topic-record (<topic>-io.smaint.v1.SensorReading)")
	k.names.register(fs)
	fs.IntVar(&k.partitions, "partitions", pipeline.DefaultPartitions, "partitions of the topics smaint creates")
	fs.IntVar(&k.replication, "replication", -1, "replication factor of the topics smaint creates (-1: broker default)")
}

func (k *kafkaFlags) validate() error {
	if err := k.cfg.Validate(); err != nil {
		return err
	}
	if k.partitions < 1 || k.partitions > 10_000 {
		return fmt.Errorf("%w: --partitions %d (want 1-10000)", errUsage, k.partitions)
	}
	if k.replication == 0 || k.replication < -1 || k.replication > 32 {
		return fmt.Errorf("%w: --replication %d (want -1 or 1-32)", errUsage, k.replication)
	}
	_, err := k.names.topics()
	return err
}

// connect builds what a command connected to Kafka needs from the flags:
// the injected dependencies (logging to log) and the options every
// runner and producer shares.
func (k *kafkaFlags) connect(log *slog.Logger) (*deps, []pipeline.Option, error) {
	serde, err := k.cfg.Serde()
	if err != nil {
		return nil, nil, err
	}
	d := newDeps(log, serde)
	if d.topics, err = k.names.topics(); err != nil {
		return nil, nil, err
	}
	d.groupPrefix = k.names.groupPrefix
	kopts, err := k.cfg.Opts()
	if err != nil {
		return nil, nil, err
	}
	return d, []pipeline.Option{
		pipeline.KafkaOpts(kopts...),
		pipeline.WithSerde(d.serde),
		pipeline.WithMetrics(d.metrics),
		pipeline.WithLogger(d.log),
		pipeline.WithHealth(d.health),
		pipeline.CreateTopics(int32(k.partitions), int16(k.replication)),
		pipeline.DeadLetterTopic(d.topics.DLQ),
		pipeline.GroupPrefix(k.names.groupPrefix),
	}, nil
}

// check connects to the brokers once. A SASL or TLS mismatch is an error
// that says so (retrying will not help); brokers that do not answer yet
// are a warning, and the stages keep trying, as when smaint starts before
// Kafka.
func (k *kafkaFlags) check(ctx context.Context, log *slog.Logger) error {
	err := k.cfg.Check(ctx, 10*time.Second)
	if errors.Is(err, pipeline.ErrUnreachable) {
		log.Warn("no Kafka broker answered yet; the stages will keep trying", "err", err)
		return nil
	}
	return err
}

// deps are what a command injects into stages and runners.
type deps struct {
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *pipeline.Metrics
	health  *pipeline.Health
	serde   *schemas.Serde
	topics  pipeline.Topics
	// groupPrefix is --group-prefix: Redis keys take it too.
	groupPrefix string
}

func newDeps(log *slog.Logger, serde *schemas.Serde) *deps {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &deps{
		log: log, reg: reg, metrics: pipeline.NewMetrics(reg), health: pipeline.NewHealth(),
		serde: serde, topics: pipeline.DefaultTopics(),
	}
}

// logFlags configure the JSON logger.
type logFlags struct{ level string }

func (l *logFlags) register(fs *flagSet, def string) {
	fs.StringVar(&l.level, "log-level", def, "log level: debug, info, warn or error (logs are JSON on stderr)")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q (want debug, info, warn or error)", errUsage, l.level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lvl})), nil
}

// registerSubjects registers every subject at start, the readings topic's
// included, when there is a registry (see smaint schemas register). A
// registry that refuses a schema stops the start: a producer or a stage
// would be refused too. One that does not answer is a warning: the stages
// register their own subjects as they start, and keep trying.
func registerSubjects(ctx context.Context, d *deps) error {
	if d.serde.Registry() == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	regs, err := pipeline.RegisterSubjects(ctx, d.serde, d.topics)
	var refused *sr.ResponseError
	switch {
	case errors.As(err, &refused) && refused.StatusCode >= 400 && refused.StatusCode < 500:
		return fmt.Errorf("%w: the schema registry refused: %w", errUsage, err)
	case err != nil:
		d.log.Warn("registering the subjects failed; producers may not find sensor.readings' schema in the registry", "err", err)
	default:
		d.log.Info("subjects registered", "subjects", len(regs), "compatibility", schemas.Compatibility)
	}
	return nil
}
