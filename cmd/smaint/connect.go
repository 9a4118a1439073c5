package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// kafkaFlags are the flags that say how to reach Kafka and the registry.
type kafkaFlags struct {
	cfg         pipeline.KafkaConfig
	brokers     listFlag
	registry    string
	regUser     string
	regPass     string
	partitions  int
	replication int
}

func (k *kafkaFlags) register(fs *flagSet) {
	fs.Var(&k.brokers, "brokers", "Kafka seed brokers, host:port[,host:port...]")
	fs.alias("brokers", "KAFKA_BROKERS")
	fs.StringVar(&k.cfg.SASLMechanism, "sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	fs.StringVar(&k.cfg.SASLUser, "sasl-user", "", "SASL user")
	fs.StringVar(&k.cfg.SASLPassword, "sasl-password", "", "SASL password")
	fs.BoolVar(&k.cfg.TLS, "tls", false, "connect to the brokers with TLS")
	fs.StringVar(&k.cfg.TLSCAFile, "tls-ca", "", "PEM file of the CA that signed the brokers' certificates (default: system roots)")
	fs.StringVar(&k.cfg.TLSCertFile, "tls-cert", "", "PEM client certificate, for mutual TLS")
	fs.StringVar(&k.cfg.TLSKeyFile, "tls-key", "", "PEM client key, for mutual TLS")
	fs.BoolVar(&k.cfg.TLSInsecureSkipVerify, "tls-insecure", false, "do not verify the brokers' certificates (testing only)")
	fs.StringVar(&k.registry, "registry", "", "schema registry URL; without one, records use Avro single-object encoding")
	fs.StringVar(&k.regUser, "registry-user", "", "schema registry basic-auth user")
	fs.StringVar(&k.regPass, "registry-password", "", "schema registry basic-auth password")
	fs.IntVar(&k.partitions, "partitions", 6, "partitions of the topics smaint creates")
	fs.IntVar(&k.replication, "replication", -1, "replication factor of the topics smaint creates (-1: broker default)")
}

func (k *kafkaFlags) validate() error {
	k.cfg.Brokers = k.brokers
	if err := k.cfg.Validate(); err != nil {
		return err
	}
	if k.partitions < 1 || k.partitions > 10_000 {
		return fmt.Errorf("%w: --partitions %d (want 1-10000)", errUsage, k.partitions)
	}
	if k.replication == 0 || k.replication < -1 || k.replication > 32 {
		return fmt.Errorf("%w: --replication %d (want -1 or 1-32)", errUsage, k.replication)
	}
	if k.registry != "" && !strings.HasPrefix(k.registry, "http://") && !strings.HasPrefix(k.registry, "https://") {
		return fmt.Errorf("%w: --registry %q is not an http(s) URL", errUsage, k.registry)
	}
	return nil
}

// serde returns the Serde for the flags: with the registry if one is set.
func (k *kafkaFlags) serde() (*schemas.Serde, error) {
	if k.registry == "" {
		return schemas.NewSerde(), nil
	}
	opts := []sr.ClientOpt{sr.URLs(k.registry)}
	if k.regUser != "" {
		opts = append(opts, sr.BasicAuth(k.regUser, k.regPass))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: registry: %v", errUsage, err)
	}
	return schemas.NewSerde(schemas.WithRegistry(schemas.NewSRRegistry(cl))), nil
}

// runnerOpts are the pipeline options every runner and producer shares.
func (k *kafkaFlags) runnerOpts(d *deps) ([]pipeline.Option, error) {
	kopts, err := k.cfg.Opts()
	if err != nil {
		return nil, err
	}
	return []pipeline.Option{
		pipeline.KafkaOpts(kopts...),
		pipeline.WithSerde(d.serde),
		pipeline.WithMetrics(d.metrics),
		pipeline.WithLogger(d.log),
		pipeline.WithHealth(d.health),
		pipeline.CreateTopics(int32(k.partitions), int16(k.replication)),
	}, nil
}

// setup builds what a command connected to Kafka needs from its flags:
// the logger (JSON on stderr), the Serde, the injected dependencies and
// the options every runner and producer shares.
func setup(kf *kafkaFlags, lf *logFlags, stderr io.Writer) (*deps, []pipeline.Option, error) {
	log, err := lf.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	serde, err := kf.serde()
	if err != nil {
		return nil, nil, err
	}
	d := newDeps(log, serde)
	opts, err := kf.runnerOpts(d)
	if err != nil {
		return nil, nil, err
	}
	return d, opts, nil
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

// openRedis returns a client of the Redis at url. A Redis that does not
// answer yet is logged, not fatal: the stages degrade until it does.
func openRedis(ctx context.Context, url string, log *slog.Logger) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: redis URL %q: %v", errUsage, url, err)
	}
	// Fail fast: the stages degrade and retry on their own schedule.
	opt.DialTimeout = time.Second
	opt.ReadTimeout = time.Second
	opt.WriteTimeout = time.Second
	opt.MaxRetries = 1
	rdb := redis.NewClient(opt)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		log.Warn("redis does not answer yet; dedupe runs on its local cache until it does", "addr", opt.Addr, "err", err)
	}
	return rdb, nil
}
