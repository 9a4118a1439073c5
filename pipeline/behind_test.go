package pipeline_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// behindProbe records, for every batch, whether the runner said its
// partitions were behind, and the last offset the batch held of each.
type behindProbe struct {
	mu   sync.Mutex
	seen []behindSeen
}

type behindSeen struct {
	last   int64
	behind bool
}

func (s *behindProbe) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	last := map[pipeline.TopicPartition]int64{}
	for _, m := range in {
		last[pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}] = m.Offset
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp, off := range last {
		s.seen = append(s.seen, behindSeen{last: off, behind: out.Behind(ctx, tp)})
	}
	return nil
}

// TestRunnerSaysWhenAPartitionIsBehind: with the whole input on the topic
// before the runner starts, every batch but the one that reaches the end
// of the partition is behind, however the batches fall; the last is not.
// This is what keeps a stage's idle close from firing on a backlog.
func TestRunnerSaysWhenAPartitionIsBehind(t *testing.T) {
	h := newHarness(t, 1)
	const n = 400
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: inTopic, Value: encode(t, reading(i))}
	}
	pipelinetest.Produce(t, h.admin, recs...)
	probe := &behindProbe{}
	stop := pipelinetest.Start(t, h.runner(probe, pipeline.MaxBatch(30)))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	probe.mu.Lock()
	defer probe.mu.Unlock()
	if len(probe.seen) < n/30 {
		t.Fatalf("%d batches of at most 30 records for %d records", len(probe.seen), n)
	}
	for _, s := range probe.seen {
		if want := s.last < n-1; s.behind != want {
			t.Errorf("batch ending at offset %d of %d: behind %v, want %v", s.last, n, s.behind, want)
		}
	}
}

// TestLocalIsNeverBehind: in process there is no backlog to wait for.
func TestLocalIsNeverBehind(t *testing.T) {
	probe := &behindProbe{}
	loc, err := pipeline.NewLocal(context.Background(), "probe", pipeline.Stage[schemas.SensorReading](probe), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loc.Process(context.Background(), []pipeline.Msg[schemas.SensorReading]{{Value: *reading(1), Topic: "in"}}); err != nil {
		t.Fatal(err)
	}
	if len(probe.seen) != 1 || probe.seen[0].behind {
		t.Fatalf("seen %+v", probe.seen)
	}
}

// gate holds every batch until it is opened.
type gate struct {
	*relay
	open chan struct{}
}

func (g *gate) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	<-g.open
	return g.relay.Process(ctx, in, out)
}

// TestRunnerDrained: a runner is drained once everything on its input has
// gone through and its outputs are acknowledged, never before.
func TestRunnerDrained(t *testing.T) {
	h := newHarness(t, 3)
	const n = 500
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: inTopic, Key: []byte{byte(i)}, Value: encode(t, reading(i))}
	}
	pipelinetest.Produce(t, h.admin, recs...)
	g := &gate{relay: newRelay(), open: make(chan struct{})}
	r := h.runner(g)
	pipelinetest.Start(t, r)
	ctx := pipelinetest.Context(t)
	if drained, err := r.Drained(ctx); err != nil || drained {
		t.Fatalf("drained %v (%v) with every record still to process", drained, err)
	}
	close(g.open)
	pipelinetest.Eventually(t, "the runner to drain", func() bool {
		drained, err := r.Drained(ctx)
		return err == nil && drained
	})
	if out := pipelinetest.ReadAll(t, h.addrs, outTopic); len(out) != n {
		t.Fatalf("drained with %d outputs of %d", len(out), n)
	}
}

// tickProbe is a stage that, at every tick, records whether the runner
// says partition 0 of the input is behind.
type tickProbe struct {
	relay  *relay
	behind atomic.Int32 // 0: not asked yet, 1: no, 2: yes
}

func (s *tickProbe) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	return s.relay.Process(ctx, in, out)
}

func (s *tickProbe) Outputs() []pipeline.Port { return s.relay.Outputs() }

func (s *tickProbe) TickEvery() time.Duration { return 20 * time.Millisecond }

func (s *tickProbe) Tick(ctx context.Context, _ time.Time, out *pipeline.Emitter) {
	v := int32(1)
	if out.Behind(ctx, pipeline.TopicPartition{Topic: inTopic, Partition: 0}) {
		v = 2
	}
	s.behind.Store(v)
}

// TestRunnerSaysAPartitionWithAnOpenTransactionIsBehind: an upstream
// producer that crashed mid-transaction leaves records the runner cannot
// read yet. Until the transaction ends, the partition is behind (its
// windows must not close as idle); once it commits and its records are
// read, it is not.
func TestRunnerSaysAPartitionWithAnOpenTransactionIsBehind(t *testing.T) {
	h := newHarness(t, 1)
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(0))})
	probe := &tickProbe{relay: newRelay()}
	stop := pipelinetest.Start(t, h.runner(probe, pipeline.ExactlyOnce("probe-1")))
	defer stop()
	say := map[int32]string{0: "not asked", 1: "not behind", 2: "behind"}
	wait := func(want int32) {
		t.Helper()
		pipelinetest.Eventually(t, "the partition to be "+say[want], func() bool { return probe.behind.Load() == want })
	}
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	wait(1)

	up := pipelinetest.Client(t, h.addrs, kgo.TransactionalID("upstream-1"), kgo.TransactionTimeout(10*time.Minute))
	ctx := pipelinetest.Context(t)
	if err := up.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := up.ProduceSync(ctx, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	wait(2)

	if err := up.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	pipelinetest.Eventually(t, "the committed record to be read", func() bool {
		return len(pipelinetest.ReadCommitted(t, h.addrs, outTopic)) == 2
	})
	wait(1)
}
