package dedupe_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/redisstore"
	"github.com/smaint/smaint/stages/dedupe"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// msg is reading n at input offset off of partition 0.
func msg(n int, off int64) pipeline.Msg[schemas.SensorReading] {
	return pipeline.Msg[schemas.SensorReading]{
		Value: schemas.SensorReading{ReadingID: id(n), SensorID: fmt.Sprintf("s-%d", n%3), AssetID: "a",
			SensorType: "temperature", TS: epoch.Add(-time.Second), Value: float64(n), Unit: "C", Quality: 90},
		Topic: "sensor.readings", Offset: off,
	}
}

type env struct {
	stage *dedupe.Stage
	local *pipeline.Local[schemas.SensorReading]
	clock *fakeClock
	reg   *prometheus.Registry
}

// claims and logs are Config modifiers selecting a store.
func claims(s dedupe.ClaimStore) func(*dedupe.Config) { return func(c *dedupe.Config) { c.Claims = s } }
func logs(s dedupe.LogStore) func(*dedupe.Config)     { return func(c *dedupe.Config) { c.Log = s } }

func newEnv(t *testing.T, mods ...func(*dedupe.Config)) *env {
	t.Helper()
	e := &env{clock: &fakeClock{t: epoch}, reg: prometheus.NewRegistry()}
	cfg := dedupe.Config{Clock: e.clock, Registerer: e.reg}
	for _, mod := range mods {
		mod(&cfg)
	}
	s, err := dedupe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.stage = s
	if e.local, err = pipeline.NewLocal(context.Background(), "dedupe", pipeline.Stage[schemas.SensorReading](s), nil); err != nil {
		t.Fatal(err)
	}
	return e
}

// run processes one batch and returns the reading ids passed on, in order.
func (e *env) run(t *testing.T, in ...pipeline.Msg[schemas.SensorReading]) ([]string, pipeline.Result) {
	t.Helper()
	res, err := e.local.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	clean, err := pipeline.Decode[schemas.SensorReading](context.Background(), res, pipeline.DefaultTopics().Clean)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, r := range clean {
		if string(res.Records[i].Key) != r.SensorID {
			t.Errorf("key %q for sensor %q", res.Records[i].Key, r.SensorID)
		}
		ids = append(ids, r.ReadingID)
	}
	return ids, res
}

func (e *env) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() != labels[i+1] {
						match = false
					}
				}
			}
			if match {
				if m.GetCounter() != nil {
					return m.GetCounter().GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return 0
}

func eq(t *testing.T, got []string, want ...string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("passed %v, want %v", got, want)
	}
}

func TestDropsDuplicatesKeepsOrder(t *testing.T) {
	e := newEnv(t)
	got, _ := e.run(t, msg(1, 0), msg(2, 1), msg(1, 2), msg(3, 3), msg(2, 4))
	eq(t, got, id(1), id(2), id(3))
	got, _ = e.run(t, msg(3, 5), msg(4, 6))
	eq(t, got, id(4))
	if n := e.counter(t, "smaint_dedupe_duplicates_total", "found_in", "local"); n != 3 {
		t.Errorf("local duplicates %v, want 3", n)
	}
}

func TestReplayAtSamePositionPasses(t *testing.T) {
	e := newEnv(t)
	e.run(t, msg(1, 10), msg(2, 11))
	// The same input consumed again (restart, rebalance) is not a duplicate.
	got, _ := e.run(t, msg(1, 10), msg(2, 11), msg(1, 12))
	eq(t, got, id(1), id(2))
	if n := e.counter(t, "smaint_dedupe_replays_total"); n != 2 {
		t.Errorf("replays %v, want 2", n)
	}
}

func TestInvalidReadingsAreRejected(t *testing.T) {
	e := newEnv(t)
	bad := msg(2, 1)
	bad.Value.Quality = 300
	future := msg(3, 2)
	future.Value.TS = epoch.Add(time.Hour)
	got, res := e.run(t, msg(1, 0), bad, future, msg(4, 3))
	eq(t, got, id(1), id(4))
	if len(res.Rejected) != 2 || res.Rejected[0].Index != 1 || res.Rejected[1].Index != 2 {
		t.Fatalf("rejected %+v", res.Rejected)
	}
	for _, r := range res.Rejected {
		if r.Kind != pipeline.KindInvalid || !errors.Is(r.Err, pipeline.ErrInvalid) {
			t.Errorf("rejection %+v", r)
		}
	}
}

func TestForgetsAfterTTL(t *testing.T) {
	e := newEnv(t, func(c *dedupe.Config) { c.TTL = time.Minute })
	e.run(t, msg(1, 0))
	e.clock.Add(59 * time.Second)
	got, _ := e.run(t, msg(1, 1))
	eq(t, got)
	e.clock.Add(2 * time.Second)
	got, _ = e.run(t, msg(1, 2))
	eq(t, got, id(1))
}

func newMiniredis(t *testing.T) (*miniredis.Miniredis, *redis.Client) {
	t.Helper()
	mr := miniredis.RunT(t)
	mr.SetTime(epoch)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return mr, rdb
}

func TestClaimsDedupeAcrossPartitionsAndInstances(t *testing.T) {
	mr, rdb := newMiniredis(t)
	store := redisstore.NewClaimStore(rdb, "")
	a := newEnv(t, claims(store))
	b := newEnv(t, claims(store))
	got, _ := a.run(t, msg(1, 0), msg(2, 1))
	eq(t, got, id(1), id(2))
	// Instance b consumes the same ids at other positions (another partition's copy).
	m1, m3 := msg(1, 7), msg(3, 8)
	m1.Partition, m3.Partition = 1, 1
	got, _ = b.run(t, m1, m3)
	eq(t, got, id(3))
	if n := b.counter(t, "smaint_dedupe_duplicates_total", "found_in", "store"); n != 1 {
		t.Errorf("store duplicates %v, want 1", n)
	}
	// Later sightings on that partition are now caught by b's cache.
	again := msg(1, 9)
	again.Partition = 1
	got, _ = b.run(t, again)
	eq(t, got)
	if n := b.counter(t, "smaint_dedupe_duplicates_total", "found_in", "local"); n != 1 {
		t.Errorf("local duplicates %v, want 1", n)
	}
	// The key holds the first position, with the TTL.
	if v, _ := mr.Get("smaint:dedupe:id:" + id(1)); v != "0:0" {
		t.Errorf("stored position %q", v)
	}
	if ttl := mr.TTL("smaint:dedupe:id:" + id(1)); ttl != 10*time.Minute {
		t.Errorf("ttl %v", ttl)
	}
	// A fresh instance (empty cache) replaying a's input passes it: same position.
	c := newEnv(t, claims(store))
	got, _ = c.run(t, msg(1, 0), msg(2, 1))
	eq(t, got, id(1), id(2))
}

// brokenStore fails every call, or blocks until its context ends. It
// notes the longest any call's context gave it: a store that blocks must
// never hold a batch longer than the stage's timeouts.
type brokenStore struct {
	block   bool
	calls   int
	longest time.Duration // until the context's deadline, at the call; -1 if one had none
}

func (s *brokenStore) fail(ctx context.Context) error {
	s.calls++
	if d, ok := ctx.Deadline(); !ok {
		s.longest = -1
	} else if s.longest >= 0 {
		s.longest = max(s.longest, time.Until(d))
	}
	if s.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return errors.New("connection refused")
}

func (s *brokenStore) Claim(ctx context.Context, _ []dedupe.Claim, _ time.Duration) error {
	return s.fail(ctx)
}

func (s *brokenStore) Append(ctx context.Context, _ time.Time, _ time.Duration, _ map[pipeline.TopicPartition][]dedupe.LogEntry) error {
	return s.fail(ctx)
}

func (s *brokenStore) Restore(ctx context.Context, _ pipeline.TopicPartition, _ time.Time, _ time.Duration, _ func(dedupe.LogEntry, time.Time)) error {
	return s.fail(ctx)
}

func TestStoreDownDegradesToLocalAndRetries(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		block bool
	}{{"claims", false}, {"claims", true}, {"log", false}, {"log", true}} {
		t.Run(fmt.Sprintf("%s/block=%v", tc.mode, tc.block), func(t *testing.T) {
			store := &brokenStore{block: tc.block}
			mode := claims(store)
			if tc.mode == "log" {
				mode = logs(store)
			}
			e := newEnv(t, mode, func(c *dedupe.Config) {
				c.StoreTimeout, c.RestoreTimeout, c.StoreRetry = 50*time.Millisecond, 50*time.Millisecond, 10*time.Second
			})
			got, _ := e.run(t, msg(1, 0), msg(2, 1), msg(1, 2))
			eq(t, got, id(1), id(2))
			if store.longest < 0 || store.longest > 50*time.Millisecond {
				t.Fatalf("the store was called with %v to answer; want at most the 50ms timeouts", store.longest)
			}
			if n := e.counter(t, "smaint_dedupe_store_degraded_total"); n != 2 {
				t.Errorf("degraded %v, want 2", n)
			}
			if got, _ := e.run(t, msg(2, 9)); len(got) != 0 {
				t.Errorf("duplicate passed while the store was down: %v", got)
			}
			if up := e.counter(t, "smaint_dedupe_store_up"); up != 0 {
				t.Errorf("store_up %v", up)
			}
			// Within StoreRetry the store is not asked again.
			e.run(t, msg(3, 3))
			if store.calls != 1 {
				t.Fatalf("store asked %d times within the retry interval", store.calls)
			}
			e.clock.Add(11 * time.Second)
			e.run(t, msg(4, 4))
			if store.calls != 2 {
				t.Fatalf("store asked %d times after the retry interval, want 2", store.calls)
			}
		})
	}
}

func TestStoreRecovers(t *testing.T) {
	mr, rdb := newMiniredis(t)
	e := newEnv(t, claims(redisstore.NewClaimStore(rdb, "")), func(c *dedupe.Config) { c.StoreRetry = time.Second; c.StoreTimeout = 100 * time.Millisecond })
	mr.SetError("LOADING Redis is loading the dataset in memory")
	got, _ := e.run(t, msg(1, 0))
	eq(t, got, id(1))
	if up := e.counter(t, "smaint_dedupe_store_up"); up != 0 {
		t.Fatalf("store_up %v while failing", up)
	}
	mr.SetError("")
	e.clock.Add(2 * time.Second)
	got, _ = e.run(t, msg(2, 1))
	eq(t, got, id(2))
	if up := e.counter(t, "smaint_dedupe_store_up"); up != 1 {
		t.Fatalf("store_up %v after recovery", up)
	}
	if !mr.Exists("smaint:dedupe:id:" + id(2)) {
		t.Fatal("recovered store was not written")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  dedupe.Config
	}{
		{"tiny ttl", dedupe.Config{TTL: time.Millisecond}},
		{"capacity 1", dedupe.Config{LocalCapacity: 1}},
		{"negative timeout", dedupe.Config{StoreTimeout: -1}},
		{"negative future", dedupe.Config{MaxFuture: -time.Second}},
		{"both stores", dedupe.Config{Log: &brokenStore{}, Claims: &brokenStore{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dedupe.New(tc.cfg); !errors.Is(err, pipeline.ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
		})
	}
}

func TestLogRestoresPartitionHistoryOnTakeover(t *testing.T) {
	mr, rdb := newMiniredis(t)
	store := redisstore.NewLogStore(rdb, "")
	a := newEnv(t, logs(store))
	onP1 := func(m pipeline.Msg[schemas.SensorReading]) pipeline.Msg[schemas.SensorReading] {
		m.Partition = 1
		return m
	}
	got, _ := a.run(t, msg(1, 0), msg(2, 1), onP1(msg(3, 0)))
	eq(t, got, id(1), id(2), id(3))
	if keys := mr.Keys(); len(keys) != 2 {
		t.Fatalf("log keys %v, want one per partition", keys)
	}
	// b takes partition 0 over: the batch before it was committed replays
	// (passes), a duplicate of an earlier reading is dropped, new ids pass.
	b := newEnv(t, logs(store))
	got, _ = b.run(t, msg(2, 1), msg(1, 5), msg(4, 6))
	eq(t, got, id(2), id(4))
	if n := b.counter(t, "smaint_dedupe_restored_total"); n != 2 {
		t.Errorf("restored %v ids, want partition 0's 2", n)
	}
	// b's own additions reach the log too: a third owner sees all of them.
	c := newEnv(t, logs(store))
	got, _ = c.run(t, msg(4, 20), msg(1, 21), msg(5, 22))
	eq(t, got, id(5))
	// Once revoked and reassigned, a partition is restored again.
	c.stage.Revoked(context.Background(), []pipeline.TopicPartition{{Topic: "sensor.readings", Partition: 0}})
	if got, _ = c.run(t, msg(6, 30)); len(got) != 1 {
		t.Fatalf("after reassignment: %v", got)
	}
	// First takeover: ids 1, 2 (a) and 4 (b); second: those and 5 (c).
	if n := c.counter(t, "smaint_dedupe_restored_total"); n != 3+4 {
		t.Errorf("restored %v ids over two takeovers, want 7", n)
	}
}

func TestLogForgetsAfterTTL(t *testing.T) {
	mr, rdb := newMiniredis(t)
	store := redisstore.NewLogStore(rdb, "")
	ttl := func(c *dedupe.Config) { c.TTL = time.Minute }
	a := newEnv(t, logs(store), ttl)
	a.run(t, msg(1, 0))
	// 61s later a new owner does not restore the expired id.
	b := newEnv(t, logs(store), ttl)
	b.clock.Add(61 * time.Second)
	got, _ := b.run(t, msg(1, 9))
	eq(t, got, id(1))
	// The bucket key outlives the TTL but expires within two of them.
	mr.FastForward(2*time.Minute + 2*time.Second)
	if keys := mr.Keys(); len(keys) != 1 {
		t.Fatalf("keys after 2 TTLs: %v (b's append lives on, a's expired)", keys)
	}
}

// A backlog on one partition must not push another partition's ids out of
// the cache: duplicates arrive on their original's partition however far
// the other partitions run ahead.
func TestOtherPartitionsCannotEvict(t *testing.T) {
	e := newEnv(t, func(c *dedupe.Config) { c.LocalCapacity = 10 })
	e.run(t, msg(1, 0))
	var flood []pipeline.Msg[schemas.SensorReading]
	for i := range 100 {
		m := msg(1000+i, int64(i))
		m.Partition = 1
		flood = append(flood, m)
	}
	e.run(t, flood...)
	got, _ := e.run(t, msg(1, 1))
	eq(t, got)
}
