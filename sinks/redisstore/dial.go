package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrURL means a Redis URL could not be parsed.
var ErrURL = errors.New("bad redis URL")

// Dial returns a client of the Redis at url (redis:// or rediss://) with
// one-second timeouts and a single retry: the dedupe stage degrades and
// retries on its own schedule, so a slow Redis must fail fast. A Redis
// that does not answer yet is logged, not an error. Only a URL that does
// not parse is (wrapping ErrURL).
func Dial(ctx context.Context, url string, log *slog.Logger) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrURL, url, err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = time.Second, time.Second, time.Second
	opt.MaxRetries = 1
	rdb := redis.NewClient(opt)
	if err := Ping(ctx, rdb, 2*time.Second); err != nil && log != nil {
		log.Warn("redis does not answer yet; dedupe runs on its local cache until it does", "addr", opt.Addr, "err", err)
	}
	return rdb, nil
}

// Ping reports whether rdb answers within timeout.
func Ping(ctx context.Context, rdb redis.UniversalClient, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return rdb.Ping(pctx).Err()
}
