package dedupe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim asks the store to remember ID as first seen at Pos. The store
// fills Existed and Prev: whether ID was already remembered, and the Pos
// it was remembered with.
type Claim struct {
	ID      string
	Pos     string
	Existed bool
	Prev    string
}

// Store remembers reading ids across instances. Implementations must be
// safe for concurrent use.
type Store interface {
	// Claim records every claim whose ID is new, for ttl, and reports for
	// each whether it existed. On error no claim's result may be trusted.
	Claim(ctx context.Context, claims []Claim, ttl time.Duration) error
}

// RedisStore is a Store on Redis: one pipelined SET key pos NX GET EX ttl
// per claim, so a whole batch costs one round trip. SET with both NX and
// GET needs Redis 7.0 or later.
type RedisStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisStore returns a Store on rdb whose keys are prefix+reading_id
// (prefix "" means "smaint:dedupe:").
func NewRedisStore(rdb redis.UniversalClient, prefix string) *RedisStore {
	if prefix == "" {
		prefix = "smaint:dedupe:"
	}
	return &RedisStore{rdb: rdb, prefix: prefix}
}

// Claim implements Store.
func (s *RedisStore) Claim(ctx context.Context, claims []Claim, ttl time.Duration) error {
	if len(claims) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StatusCmd, len(claims))
	args := redis.SetArgs{Mode: "NX", Get: true, TTL: ttl}
	for i := range claims {
		cmds[i] = pipe.SetArgs(ctx, s.prefix+claims[i].ID, claims[i].Pos, args)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redis: %w", err)
	}
	for i, cmd := range cmds {
		prev, err := cmd.Result()
		switch {
		case errors.Is(err, redis.Nil):
			claims[i].Existed, claims[i].Prev = false, ""
		case err != nil:
			return fmt.Errorf("redis: %w", err)
		default:
			claims[i].Existed, claims[i].Prev = true, prev
		}
	}
	return nil
}
