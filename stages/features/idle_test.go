package features_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/features"
)

// testClock is the stages' clock in these tests: it moves by perCall
// every time it is asked, and by step when told.
type testClock struct {
	mu      sync.Mutex
	t       time.Time
	perCall time.Duration
	n       int // calls
}

// racing moves an hour on every call: to the stage, each batch looks as
// if it had taken far longer than the idle timeout, as on a machine too
// busy to keep up.
func racing() *testClock { return &testClock{t: t0, perCall: time.Hour} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.perCall)
	c.n++
	return c.t
}

func (c *testClock) step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *testClock) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestBacklogIsNeverIdle runs the stage on Kafka over a backlog, in small
// batches, with a clock on which every batch outlasts the idle timeout:
// idle close must wait until the partition is read to its end, so the
// windows are exactly those of an uninterrupted run in process.
func TestBacklogIsNeverIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs on an in-process broker")
	}
	rs := simulated(t, 10*time.Minute)
	want := inProcess(t, rs)

	c := pipelinetest.Cluster(t)
	cl := pipelinetest.Client(t, c.ListenAddrs())
	pipelinetest.CreateTopic(t, cl, 1, "clean")
	pipelinetest.Produce(t, cl, pipelinetest.Readings(t, "clean", rs)...)

	clk := racing()
	st, err := features.New(features.Config{Clock: clk, IdleTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.NewRunner("features", pipeline.Stage[schemas.SensorReading](st),
		pipeline.KafkaOpts(kgo.SeedBrokers(c.ListenAddrs()...)), pipeline.ConsumeTopics("clean"),
		pipeline.WithClock(clk), pipeline.MaxBatch(200), pipeline.CreateTopics(1, 1), pipeline.CommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	stop := pipelinetest.Start(t, r)
	pipelinetest.WaitCommitted(t, cl, "smaint-features", "clean")
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	sameWindows(t, c.ListenAddrs(), want)
}

// inProcess returns the windows of an uninterrupted run over rs, in process,
// by sensor and window start.
func inProcess(t *testing.T, rs []schemas.SensorReading) map[string]schemas.FeatureVector {
	want := map[string]schemas.FeatureVector{}
	for _, fv := range run(t, newEnv(t, nil), rs, 500) {
		want[fv.SensorID+fv.WindowStart.String()] = fv
	}
	return want
}

// sameWindows requires the windows on the cluster at addrs to be want,
// with no reading gone late.
func sameWindows(t *testing.T, addrs []string, want map[string]schemas.FeatureVector) {
	t.Helper()
	ctx := context.Background()
	got := pipelinetest.ReadAll(t, addrs, "sensor.features")
	if late := pipelinetest.ReadAll(t, addrs, "sensor.readings.late"); len(late) != 0 {
		t.Errorf("%d readings went late: windows closed while input was waiting", len(late))
	}
	if len(got) != len(want) {
		t.Errorf("%d windows on Kafka, %d in process", len(got), len(want))
	}
	dec := schemas.NewSerde().NewDecoder()
	for _, rec := range got {
		var fv schemas.FeatureVector
		if err := dec.Decode(ctx, rec.Value, &fv); err != nil {
			t.Fatal(err)
		}
		if w := want[fv.SensorID+fv.WindowStart.String()]; !reflect.DeepEqual(fv, w) {
			t.Fatalf("%s %v on Kafka:\n%+v\nin process:\n%+v", fv.SensorID, fv.WindowStart, fv, w)
		}
	}
}

// upstream is a features runner, exactly once, over a topic holding the
// first third of rs committed and the rest in a transaction left open,
// as by an upstream instance that crashed mid-transaction.
type upstream struct {
	c     *kfake.Cluster
	cl    *kgo.Client
	open  *kgo.Client // the crashed instance's producer
	rest  []*kgo.Record
	reg   *prometheus.Registry
	stop  func() error
	first time.Time // the newest event time of the first third
}

func newUpstream(t *testing.T, rs []schemas.SensorReading, clk pipeline.Clock, idle time.Duration) *upstream {
	u := &upstream{c: pipelinetest.Cluster(t), reg: prometheus.NewRegistry()}
	u.cl = pipelinetest.Client(t, u.c.ListenAddrs())
	pipelinetest.CreateTopic(t, u.cl, 1, "clean")
	recs := pipelinetest.Readings(t, "clean", rs)
	// A third, not a half: the cut falls inside a window, whose readings
	// after it would go late if the window closed at the cut.
	cut := len(recs) / 3
	pipelinetest.Produce(t, u.cl, recs[:cut]...)
	for _, r := range rs[:cut] {
		if r.TS.After(u.first) {
			u.first = r.TS
		}
	}
	u.rest = recs[cut:]
	u.open = pipelinetest.Client(t, u.c.ListenAddrs(), kgo.TransactionalID("dedupe/crashed"), kgo.TransactionTimeout(10*time.Minute))
	u.produce(t, u.open, false)

	st, err := features.New(features.Config{Clock: clk, IdleTimeout: idle, Registerer: u.reg})
	if err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.NewRunner("features", pipeline.Stage[schemas.SensorReading](st),
		pipeline.KafkaOpts(kgo.SeedBrokers(u.c.ListenAddrs()...)), pipeline.ConsumeTopics("clean"), pipeline.ExactlyOnce("pod-a"),
		pipeline.WithClock(clk), pipeline.MaxBatch(200), pipeline.CreateTopics(1, 1), pipeline.CommitInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	u.stop = pipelinetest.Start(t, r)
	return u
}

// produce writes the rest of the input in a transaction of cl, and ends
// it with a commit if commit is set.
func (u *upstream) produce(t *testing.T, cl *kgo.Client, commit bool) {
	ctx := pipelinetest.Context(t)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, u.rest...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
}

// waitRead waits until the stage has read every reading up to newest:
// its watermark is newest less the lateness.
func (u *upstream) waitRead(t *testing.T, newest time.Time) {
	mark := float64(newest.Add(-10*time.Second).UnixMicro()) / 1e6
	pipelinetest.Eventually(t, "the readings to be read", func() bool {
		return pipelinetest.Metric(t, u.reg, "smaint_features_watermark_seconds") >= mark
	})
}

// tick steps the clock past a tick and waits for a few turns of the
// runner's loop, one of which ticks (a turn asks the time at most four
// times).
func (u *upstream) tick(t *testing.T, clk *testClock) {
	clk.step(2 * time.Second)
	n := clk.calls() + 8
	pipelinetest.Eventually(t, "the runner to tick", func() bool { return clk.calls() > n })
}

func (u *upstream) idleCloses(t *testing.T) float64 {
	return pipelinetest.Metric(t, u.reg, "smaint_features_idle_closes_total")
}

// finish steps the clock until the runner has closed its last windows
// and committed its whole input, stops it, and requires the windows of
// an uninterrupted run.
func (u *upstream) finish(t *testing.T, clk *testClock, want map[string]schemas.FeatureVector) {
	pipelinetest.Eventually(t, "the input to be committed", func() bool {
		clk.step(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lag, err := pipeline.GroupLag(ctx, u.cl, "smaint-features", "clean")
		return err == nil && lag == 0
	})
	if err := u.stop(); err != nil {
		t.Fatal(err)
	}
	sameWindows(t, u.c.ListenAddrs(), want)
}

// TestAnOpenUpstreamTransactionIsNeverIdle: readings wait in a transaction
// an upstream instance left open when it crashed. However long it stays
// open, the windows must not close as idle, and the idle time counts from
// when it ends, not from the last reading before it. Then, whether it
// commits, or the instance restarts (which aborts it) and writes the same
// readings again within the idle timeout, the windows are exactly those
// of an uninterrupted run.
func TestAnOpenUpstreamTransactionIsNeverIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs on an in-process broker")
	}
	rs := simulated(t, 10*time.Minute)
	want := inProcess(t, rs)
	var newest time.Time
	for _, r := range rs {
		if r.TS.After(newest) {
			newest = r.TS
		}
	}
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "commits", true: "restarts"}[restart], func(t *testing.T) {
			clk := &testClock{t: t0}
			u := newUpstream(t, rs, clk, 4*time.Second) // ticks every second
			u.waitRead(t, u.first)
			clk.step(time.Hour)
			u.tick(t, clk)
			if n := u.idleCloses(t); n != 0 {
				t.Fatalf("%v idle closes while the upstream transaction was open", n)
			}
			if n := pipelinetest.Metric(t, u.reg, "smaint_features_idle_waits_total"); n < 1 {
				t.Errorf("smaint_features_idle_waits_total %v after an idle timeout waiting on the transaction", n)
			}
			if !restart {
				if err := u.open.EndTransaction(pipelinetest.Context(t), kgo.TryCommit); err != nil {
					t.Fatal(err)
				}
			} else {
				// A new producer under the crashed one's transactional id
				// fences it, which aborts its transaction; a tick later it
				// writes the same readings again.
				// The abort comes 3s after the last time the stage asked
				// (less than the idle timeout, so no tick asked since); the
				// next tick, 5s after it, is the first to find nothing on
				// its way, and must start the idle time, not close.
				clk.step(3 * time.Second)
				again := pipelinetest.Client(t, u.c.ListenAddrs(), kgo.TransactionalID("dedupe/crashed"), kgo.TransactionTimeout(10*time.Minute))
				if _, _, err := again.ProducerID(pipelinetest.Context(t)); err != nil {
					t.Fatal(err)
				}
				u.tick(t, clk)
				if n := u.idleCloses(t); n != 0 {
					t.Fatalf("%v idle closes within the idle timeout of the transaction's end", n)
				}
				u.produce(t, again, true)
			}
			u.waitRead(t, newest)
			u.finish(t, clk, want)
		})
	}
}
