package dedupe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claim asks a ClaimStore to remember ID as first seen at Pos. The store
// fills Existed and Prev: whether ID was already remembered, and the Pos
// it was remembered with.
type Claim struct {
	ID      string
	Pos     string
	Existed bool
	Prev    string
}

// ClaimStore remembers reading ids one by one, for all partitions at once:
// it catches a duplicate whichever partition it arrives on, at the cost of
// one store operation per new reading. Implementations must be safe for
// concurrent use.
type ClaimStore interface {
	// Claim records every claim whose ID is new, for ttl, and reports for
	// each whether it existed. On error no claim's result may be trusted.
	Claim(ctx context.Context, claims []Claim, ttl time.Duration) error
}

// RedisClaimStore is a ClaimStore on Redis: one pipelined
// SET key pos NX GET EX ttl per claim, so a batch costs one round trip.
// SET with both NX and GET needs Redis 7.0 or later.
type RedisClaimStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisClaimStore returns a ClaimStore on rdb whose keys are
// prefix+reading_id (prefix "" means "smaint:dedupe:id:").
func NewRedisClaimStore(rdb redis.UniversalClient, prefix string) *RedisClaimStore {
	if prefix == "" {
		prefix = "smaint:dedupe:id:"
	}
	return &RedisClaimStore{rdb: rdb, prefix: prefix}
}

// Claim implements ClaimStore.
func (s *RedisClaimStore) Claim(ctx context.Context, claims []Claim, ttl time.Duration) error {
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
