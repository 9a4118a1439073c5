package pipelinetest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis connects to the Redis at REDIS_URL (default
// redis://127.0.0.1:6379/0), closed when the test ends. Without one the
// test is skipped, unless SMAINT_REQUIRE_SERVICES is set (as make test and
// CI do), when it fails.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		if Required() {
			t.Fatalf("Redis at %s: %v", url, err)
		}
		t.Skipf("no Redis at %s (%v); set SMAINT_REQUIRE_SERVICES=1 to make this a failure", url, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
