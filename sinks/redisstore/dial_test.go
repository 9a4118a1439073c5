package redisstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/smaint/smaint/sinks/redisstore"
)

func TestDialRejectsBadURLsOnly(t *testing.T) {
	if _, err := redisstore.Dial(context.Background(), "mysql://x", nil); !errors.Is(err, redisstore.ErrURL) {
		t.Fatalf("mysql URL: %v", err)
	}
	// Nothing listens on port 1: the client is made, and fails later.
	rdb, err := redisstore.Dial(context.Background(), "redis://127.0.0.1:1/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	if err := redisstore.Ping(context.Background(), rdb, 0); err == nil {
		t.Fatal("a Redis on port 1 answered")
	}
}
