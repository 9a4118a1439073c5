package dedupe_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/sinks/redisstore"
	"github.com/smaint/smaint/stages/dedupe"
)

// realRedis is the Redis of REDIS_URL; see pipelinetest.Redis.
func realRedis(t testing.TB) *redis.Client { return pipelinetest.Redis(t) }

func TestClaimStoreOnRealRedis(t *testing.T) {
	rdb := realRedis(t)
	prefix := testPrefix(t, rdb)
	store := redisstore.NewClaimStore(rdb, prefix)
	ctx := context.Background()

	cs := []dedupe.Claim{{ID: "a", Pos: "0:1"}, {ID: "b", Pos: "0:2"}}
	if err := store.Claim(ctx, cs, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Existed {
			t.Fatalf("new id %s reported as existing", c.ID)
		}
	}
	cs = []dedupe.Claim{{ID: "a", Pos: "0:1"}, {ID: "b", Pos: "3:9"}, {ID: "c", Pos: "0:3"}}
	if err := store.Claim(ctx, cs, time.Minute); err != nil {
		t.Fatal(err)
	}
	want := []dedupe.Claim{{ID: "a", Pos: "0:1", Existed: true, Prev: "0:1"}, {ID: "b", Pos: "3:9", Existed: true, Prev: "0:2"}, {ID: "c", Pos: "0:3"}}
	if fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Fatalf("claims %+v, want %+v", cs, want)
	}
	if ttl := rdb.TTL(ctx, prefix+"a").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("ttl %v", ttl)
	}
	// The stage end to end on real Redis: two instances, one shared id.
	a := newEnv(t, claims(store))
	b := newEnv(t, claims(store))
	got, _ := a.run(t, msg(1, 0))
	eq(t, got, id(1))
	m := msg(1, 5)
	m.Partition = 2
	got, _ = b.run(t, m)
	eq(t, got)
}

// testPrefix returns a key prefix of the test's own, and deletes its keys
// when the test ends.
func testPrefix(t testing.TB, rdb *redis.Client) string {
	prefix := fmt.Sprintf("smaint-test:%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	return prefix
}

func TestLogStoreOnRealRedis(t *testing.T) {
	rdb := realRedis(t)
	store := redisstore.NewLogStore(rdb, testPrefix(t, rdb))
	ctx := context.Background()
	tp := pipeline.TopicPartition{Topic: "sensor.readings", Partition: 3}
	now := time.Now()
	err := store.Append(ctx, now, time.Minute, map[pipeline.TopicPartition][]dedupe.LogEntry{
		tp:                                       {{ID: "a", Offset: 1}, {ID: "b", Offset: 2}},
		{Topic: "sensor.readings", Partition: 4}: {{ID: "c", Offset: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Append(ctx, now.Add(time.Second), time.Minute, map[pipeline.TopicPartition][]dedupe.LogEntry{tp: {{ID: "d", Offset: 3}}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = store.Restore(ctx, tp, now.Add(-time.Minute), time.Minute, func(e dedupe.LogEntry, seen time.Time) {
		got = append(got, fmt.Sprintf("%s@%d", e.ID, e.Offset))
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[a@1 b@2 d@3]" {
		t.Fatalf("restored %v", got)
	}
	got = nil
	_ = store.Restore(ctx, tp, now, time.Minute, func(e dedupe.LogEntry, _ time.Time) { got = append(got, e.ID) })
	if fmt.Sprint(got) != "[d]" {
		t.Fatalf("restore since the first append gave %v", got)
	}
}

// With nothing listening where Redis should be, the stage goes on with its
// local cache and probes the store again after StoreRetry. (That a store
// which hangs cannot hold a batch beyond the timeouts is
// TestStoreDownDegradesToLocalAndRetries's.)
func TestUnreachableRedisDegrades(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	for _, mode := range []func(*dedupe.Config){logs(redisstore.NewLogStore(rdb, "")), claims(redisstore.NewClaimStore(rdb, ""))} {
		e := newEnv(t, mode)
		got, _ := e.run(t, msg(1, 0), msg(2, 1), msg(1, 2))
		eq(t, got, id(1), id(2))
		if n := e.counter(t, "smaint_dedupe_store_degraded_total"); n != 2 {
			t.Errorf("degraded %v, want 2", n)
		}
		e.clock.Add(time.Minute) // past StoreRetry: the next batch probes the store
		got, _ = e.run(t, msg(3, 3), msg(2, 4))
		eq(t, got, id(3))
		if n := e.counter(t, "smaint_dedupe_store_degraded_total"); n != 3 {
			t.Errorf("degraded %v after the probe, want 3", n)
		}
	}
}
