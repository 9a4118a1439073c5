package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/dedupe"
)

// stageNames lists the stages "run --stages all" runs, in pipeline order.
var stageNames = []string{"dedupe"}

// stageFlags are the settings of the stages.
type stageFlags struct {
	names    listFlag
	maxBatch int

	redisURL       string
	redisPrefix    string
	dedupeStore    string
	dedupeTTL      time.Duration
	dedupeCapacity int
	maxFuture      time.Duration
	maxPast        time.Duration
}

func (s *stageFlags) register(fs *flagSet) {
	s.names = listFlag{"all"}
	fs.Var(&s.names, "stages", "stages to run: all, or a list of "+strings.Join(stageNames, ", "))
	fs.IntVar(&s.maxBatch, "max-batch", 10_000, "most records per batch a stage processes at once")
	fs.StringVar(&s.redisURL, "redis", "", "Redis URL (redis:// or rediss://) for cross-instance dedupe; empty: dedupe in process only")
	fs.alias("redis", "REDIS_URL")
	fs.StringVar(&s.redisPrefix, "redis-prefix", "smaint:", "prefix of every Redis key; give each deployment sharing a Redis its own")
	fs.StringVar(&s.dedupeStore, "dedupe-store", "log", "how dedupe shares state through Redis: log (one write per batch, duplicates on the same partition) or claims (one write per reading, duplicates on any partition)")
	fs.DurationVar(&s.dedupeTTL, "dedupe-ttl", 10*time.Minute, "how long a reading_id is remembered")
	fs.IntVar(&s.dedupeCapacity, "dedupe-cache", 500_000, "reading ids the in-process dedupe cache holds per input partition")
	fs.DurationVar(&s.maxFuture, "max-future", 5*time.Minute, "readings timestamped further ahead of now are invalid")
	fs.DurationVar(&s.maxPast, "max-past", 7*24*time.Hour, "readings timestamped further back are invalid")
}

func (s *stageFlags) validate() error {
	if len(s.names) == 1 && s.names[0] == "all" {
		s.names = slices.Clone(stageNames)
	}
	if len(s.names) == 0 {
		return fmt.Errorf("%w: --stages is empty", errUsage)
	}
	for _, n := range s.names {
		if !slices.Contains(stageNames, n) {
			return fmt.Errorf("%w: unknown stage %q in --stages (known: all, %s)", errUsage, n, strings.Join(stageNames, ", "))
		}
	}
	if s.maxBatch < 1 {
		return fmt.Errorf("%w: --max-batch must be positive", errUsage)
	}
	if s.dedupeStore != "log" && s.dedupeStore != "claims" {
		return fmt.Errorf("%w: --dedupe-store %q (want log or claims)", errUsage, s.dedupeStore)
	}
	return nil
}

// build returns a runner for every selected stage.
func (s *stageFlags) build(ctx context.Context, d *deps, base []pipeline.Option, rdb redis.UniversalClient) ([]runnable, error) {
	var out []runnable
	for _, name := range s.names {
		switch name {
		case "dedupe":
			cfg := dedupe.Config{
				TTL: s.dedupeTTL, LocalCapacity: s.dedupeCapacity, MaxFuture: s.maxFuture, MaxPast: s.maxPast,
				CleanTopic: d.topics.Clean, Registerer: d.reg, Logger: d.log.With("stage", "dedupe"),
			}
			if rdb != nil {
				if s.dedupeStore == "claims" {
					cfg.Claims = dedupe.NewRedisClaimStore(rdb, s.redisPrefix+"dedupe:id:")
				} else {
					cfg.Log = dedupe.NewRedisLogStore(rdb, s.redisPrefix+"dedupe:log:")
				}
			}
			st, err := dedupe.New(cfg)
			if err != nil {
				return nil, err
			}
			r, err := pipeline.NewRunner("dedupe", pipeline.Stage[schemas.SensorReading](st),
				append(slices.Clone(base), pipeline.ConsumeTopics(d.topics.Readings), pipeline.DeadLetterTopic(d.topics.DLQ),
					pipeline.MaxBatch(s.maxBatch))...)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}
