package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smaint/smaint/stages/dedupe"
)

// ClaimStore is a dedupe.ClaimStore on Redis: one pipelined
// SET key pos NX GET EX ttl per claim, so a batch costs one round trip.
// SET with both NX and GET needs Redis 7.0 or later.
type ClaimStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewClaimStore returns a dedupe.ClaimStore on rdb whose keys are
// prefix+reading_id (prefix "" means "smaint:dedupe:id:").
func NewClaimStore(rdb redis.UniversalClient, prefix string) *ClaimStore {
	if prefix == "" {
		prefix = "smaint:dedupe:id:"
	}
	return &ClaimStore{rdb: rdb, prefix: prefix}
}

// Claim implements dedupe.ClaimStore.
func (s *ClaimStore) Claim(ctx context.Context, claims []dedupe.Claim, ttl time.Duration) error {
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
