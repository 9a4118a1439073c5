package timescale

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

const topic = "sensor.readings.clean"

// produce puts readings on the topic, keyed by sensor.
func produce(t *testing.T, cl *kgo.Client, rs []schemas.SensorReading) {
	t.Helper()
	pipelinetest.Produce(t, cl, pipelinetest.Readings(t, topic, rs)...)
}

// startSink runs a readings sink in its own consumer group until the test
// ends or the returned stop is called.
func startSink(t *testing.T, c *kfake.Cluster, pool *pgxpool.Pool, group string, reg prometheus.Registerer, h *pipeline.Health) (stop func()) {
	t.Helper()
	s, err := New(Readings, Config{Pool: pool, Registerer: reg, Health: h})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.NewRunner("sink-readings", pipeline.Stage[schemas.SensorReading](s),
		pipeline.KafkaOpts(kgo.SeedBrokers(c.ListenAddrs()...)), pipeline.ConsumeTopics(topic), pipeline.Group(group),
		pipeline.MaxBatch(1000), pipeline.RetryBackoff(20*time.Millisecond, 200*time.Millisecond), pipeline.WithHealth(h),
		pipeline.WithMetrics(pipeline.NewMetrics(prometheus.NewRegistry())))
	if err != nil {
		t.Fatal(err)
	}
	run := pipelinetest.Start(t, r)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := run(); err != nil {
				t.Errorf("runner: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func kafka(t *testing.T) (*kfake.Cluster, *kgo.Client) {
	c := pipelinetest.Cluster(t)
	cl := pipelinetest.Client(t, c.ListenAddrs())
	pipelinetest.CreateTopic(t, cl, 3, topic)
	return c, cl
}

// TestSameTopicWrittenTwice: two consumer groups each write the whole
// topic; every reading is one row.
func TestSameTopicWrittenTwice(t *testing.T) {
	pool, _ := migrated(t)
	c, cl := kafka(t)
	produce(t, cl, readings(0, 20_000, 30))
	for _, group := range []string{"sink-a", "sink-b"} {
		stop := startSink(t, c, pool, group, prometheus.NewRegistry(), nil)
		pipelinetest.WaitCommitted(t, cl, group, topic)
		stop()
	}
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 20_000 {
		t.Fatalf("%d rows after writing the topic twice, want 20000", n)
	}
	checkRollup(t, pool)
}

// TestKilledConnectionsLoseNothing terminates the sink's database
// connections again and again while it writes; every reading ends up
// stored once and the rollup stays exact.
func TestKilledConnectionsLoseNothing(t *testing.T) {
	ctx := context.Background()
	pool, schema := migrated(t)
	c, cl := kafka(t)
	const n = 40_000
	produce(t, cl, readings(0, n, 40))
	admin, err := pgx.Connect(ctx, pipelinetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)

	reg := prometheus.NewRegistry()
	killCtx, stopKilling := context.WithCancel(ctx)
	var kills atomic.Int64
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for killCtx.Err() == nil {
			var k int64
			if err := admin.QueryRow(killCtx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = $1 AND state <> 'idle'`, schema).Scan(&k); err == nil {
				kills.Add(k)
			}
			time.Sleep(15 * time.Millisecond)
		}
	}()
	startSink(t, c, pool, "sink", reg, nil)
	for deadline := time.Now().Add(time.Minute); kills.Load() < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	stopKilling()
	<-killed
	pipelinetest.WaitCommitted(t, cl, "sink", topic)
	if got := count(t, pool, `SELECT count(*) FROM sensor_readings`); got != n {
		t.Fatalf("%d rows, want %d", got, n)
	}
	checkRollup(t, pool)
	failures := testutil.ToFloat64(newSinkMetrics(reg).errors.WithLabelValues("sensor_readings"))
	if kills.Load() == 0 || failures == 0 {
		t.Fatalf("%d connections killed, %v failed writes: the test did not interrupt the sink", kills.Load(), failures)
	}
	t.Logf("%d connections killed, %v writes retried", kills.Load(), failures)
}

// proxy forwards TCP connections to target until it is taken down.
type proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener
	conns        []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
}

// down refuses new connections and cuts the open ones: the database is
// gone, as far as the client can tell.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

// TestDatabaseOutage: while the database is unreachable the sink stores
// nothing, commits nothing, says so in its metric and readiness, and
// catches up without loss or duplicates when it returns.
func TestDatabaseOutage(t *testing.T) {
	ctx := context.Background()
	direct, schema := migrated(t)
	u, err := url.Parse(pipelinetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	c, cl := kafka(t)
	reg := prometheus.NewRegistry()
	h := pipeline.NewHealth()
	produce(t, cl, readings(0, 10_000, 20))
	startSink(t, c, pool, "sink", reg, h)
	pipelinetest.WaitCommitted(t, cl, "sink", topic)
	up := func() float64 { return testutil.ToFloat64(newSinkMetrics(reg).up.WithLabelValues("sensor_readings")) }
	if up() != 1 {
		t.Fatal("database_up is not 1 after successful writes")
	}

	px.down()
	produce(t, cl, readings(10_000, 10_000, 20))
	var detail string
	for deadline := pipelinetest.Deadline(t); ; time.Sleep(20 * time.Millisecond) {
		report, ready := h.Report()
		for _, c := range report {
			if c.Component == "database/sensor_readings" && !c.Ready {
				detail = c.Detail
			}
		}
		if detail != "" && !ready && up() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outage does not show: ready %v, report %+v, database_up %v", ready, report, up())
		}
	}
	t.Logf("readiness while down: %s", detail)
	time.Sleep(300 * time.Millisecond) // several retries
	if n := count(t, direct, `SELECT count(*) FROM sensor_readings`); n != 10_000 {
		t.Fatalf("%d rows while the database was unreachable, want the 10000 of before", n)
	}
	lag, err := pipeline.GroupLag(ctx, cl, "sink", topic)
	if err != nil || lag == 0 {
		t.Fatalf("lag %d (%v) during the outage: offsets were committed without a write", lag, err)
	}

	px.up(t)
	pipelinetest.WaitCommitted(t, cl, "sink", topic)
	if n := count(t, direct, `SELECT count(*) FROM sensor_readings`); n != 20_000 {
		t.Fatalf("%d rows after the outage, want 20000", n)
	}
	checkRollup(t, direct)
	if _, ready := h.Report(); !ready || up() != 1 {
		t.Fatalf("not ready again after the outage (database_up %v)", up())
	}
}
