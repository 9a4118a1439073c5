package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

const (
	inTopic  = "in"
	outTopic = "out"
	dlqTopic = "dlq"
)

// relay copies readings to its output. It rejects negative quality as
// invalid, panics on sensor "boom", fails whole batches while failures > 0,
// and panics outside Each while batchPanics > 0.
type relay struct {
	out         *pipeline.Output[*schemas.SensorReading]
	failures    atomic.Int32
	batchPanics atomic.Int32
	calls       atomic.Int32
}

func newRelay() *relay {
	return &relay{out: pipeline.NewOutput[*schemas.SensorReading](outTopic)}
}

func (s *relay) Outputs() []pipeline.Port { return []pipeline.Port{s.out} }

func (s *relay) Process(_ context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	s.calls.Add(1)
	if s.failures.Add(-1) >= 0 {
		// Emit first: what a failed call emitted must be discarded.
		s.out.Emit(out, "x", &in[0].Value)
		return errors.New("database unavailable")
	}
	if s.batchPanics.Add(-1) >= 0 {
		panic("batch-level bug")
	}
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.SensorReading]) error {
		switch {
		case m.Value.Quality < 0:
			return pipeline.Invalidf("quality %d out of range", m.Value.Quality)
		case m.Value.SensorID == "boom":
			panic("boom")
		}
		s.out.Emit(out, m.Value.SensorID, &m.Value)
		return nil
	})
	return nil
}

func reading(i int) *schemas.SensorReading {
	return &schemas.SensorReading{
		ReadingID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), SensorID: "s-" + strconv.Itoa(i%7),
		AssetID: "a-1", SensorType: "temperature", TS: time.Unix(1_700_000_000+int64(i), 0).UTC(),
		Value: float64(i), Unit: "C", Quality: 90,
	}
}

func encode(t testing.TB, v schemas.Record) []byte {
	t.Helper()
	enc, err := schemas.NewSerde().NewEncoder(context.Background(), v.AvroSchema(), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type harness struct {
	t       *testing.T
	cluster *kfake.Cluster
	addrs   []string
	admin   *kgo.Client
	reg     *prometheus.Registry
	metrics *pipeline.Metrics
}

func newHarness(t *testing.T, partitions int32) *harness {
	c := pipelinetest.Cluster(t)
	h := &harness{t: t, cluster: c, addrs: c.ListenAddrs(), reg: prometheus.NewRegistry()}
	h.admin = pipelinetest.Client(t, h.addrs)
	h.metrics = pipeline.NewMetrics(h.reg)
	pipelinetest.CreateTopic(t, h.admin, partitions, inTopic)
	return h
}

func (h *harness) runner(stage pipeline.Stage[schemas.SensorReading], opts ...pipeline.Option) *pipeline.Runner[schemas.SensorReading] {
	h.t.Helper()
	base := []pipeline.Option{
		pipeline.KafkaOpts(kgo.SeedBrokers(h.addrs...)),
		pipeline.ConsumeTopics(inTopic),
		pipeline.DeadLetterTopic(dlqTopic),
		pipeline.WithMetrics(h.metrics),
		pipeline.MaxBatch(50),
		pipeline.RetryBackoff(time.Millisecond, 10*time.Millisecond),
		pipeline.CreateTopics(3, 1),
		pipeline.CommitInterval(100 * time.Millisecond),
	}
	r, err := pipeline.NewRunner[schemas.SensorReading]("relay", stage, append(base, opts...)...)
	if err != nil {
		h.t.Fatal(err)
	}
	return r
}

func TestRunnerRoutesOutputsAndDeadLetters(t *testing.T) {
	h := newHarness(t, 3)
	const good = 500
	var recs []*kgo.Record
	for i := range good {
		recs = append(recs, &kgo.Record{Topic: inTopic, Key: []byte("k"), Value: encode(t, reading(i))})
	}
	bad := reading(9000)
	bad.Quality = -5
	boom := reading(9001)
	boom.SensorID = "boom"
	recs = append(recs,
		&kgo.Record{Topic: inTopic, Value: []byte("not avro at all"), Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("plc-3")}}},
		&kgo.Record{Topic: inTopic, Value: encode(t, reading(1))[:20]},
		&kgo.Record{Topic: inTopic, Value: encode(t, bad)},
		&kgo.Record{Topic: inTopic, Value: encode(t, boom)},
	)
	pipelinetest.Produce(t, h.admin, recs...)

	stop := pipelinetest.Start(t, h.runner(newRelay()))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	out := pipelinetest.ReadAll(t, h.addrs, outTopic)
	if len(out) != good {
		t.Errorf("%d outputs, want %d", len(out), good)
	}
	seen := map[string]bool{}
	for _, r := range out {
		var v schemas.SensorReading
		if err := schemas.NewSerde().NewDecoder().Decode(context.Background(), r.Value, &v); err != nil {
			t.Fatal(err)
		}
		if string(r.Key) != v.SensorID {
			t.Errorf("key %q, sensor %q", r.Key, v.SensorID)
		}
		seen[v.ReadingID] = true
	}
	if len(seen) != good {
		t.Errorf("%d distinct outputs, want %d", len(seen), good)
	}

	dlq := pipelinetest.ReadAll(t, h.addrs, dlqTopic)
	kinds := map[string]int{}
	for _, r := range dlq {
		kinds[pipelinetest.Header(r, pipeline.HeaderErrorKind)]++
		if got := pipelinetest.Header(r, pipeline.HeaderStage); got != "relay" {
			t.Errorf("stage header %q", got)
		}
		if got := pipelinetest.Header(r, pipeline.HeaderSourceTopic); got != inTopic {
			t.Errorf("source topic header %q", got)
		}
		if pipelinetest.Header(r, pipeline.HeaderError) == "" || pipelinetest.Header(r, pipeline.HeaderFailedAt) == "" {
			t.Errorf("missing error headers: %v", r.Headers)
		}
		p, _ := strconv.Atoi(pipelinetest.Header(r, pipeline.HeaderSourcePartition))
		o, _ := strconv.ParseInt(pipelinetest.Header(r, pipeline.HeaderSourceOffset), 10, 64)
		src := pipelinetest.ReadAll(t, h.addrs, inTopic)
		found := false
		for _, s := range src {
			if s.Partition == int32(p) && s.Offset == o {
				found = string(s.Value) == string(r.Value)
			}
		}
		if !found {
			t.Errorf("dead letter does not carry the source record at %d/%d", p, o)
		}
		if string(r.Value) == "not avro at all" && pipelinetest.Header(r, "origin") != "plc-3" {
			t.Errorf("original headers not kept: %v", r.Headers)
		}
	}
	want := map[string]int{pipeline.KindDecode: 2, pipeline.KindInvalid: 1, pipeline.KindPanic: 1}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("dead letters by kind %v, want %v", kinds, want)
	}

	if got := pipelinetest.Metric(t, h.reg, "smaint_records_in_total"); got != good+4 {
		t.Errorf("records in %v", got)
	}
	if got := pipelinetest.Metric(t, h.reg, "smaint_records_out_total"); got != good {
		t.Errorf("records out %v", got)
	}
}

func TestRunnerRetriesFailedBatchWithoutDuplicates(t *testing.T) {
	h := newHarness(t, 1)
	for i := range 20 {
		pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(i))})
	}
	s := newRelay()
	s.failures.Store(3)
	stop := pipelinetest.Start(t, h.runner(s))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if out := pipelinetest.ReadAll(t, h.addrs, outTopic); len(out) != 20 {
		t.Errorf("%d outputs, want 20 (failed attempts must emit nothing)", len(out))
	}
	if got := pipelinetest.Metric(t, h.reg, "smaint_batch_retries_total"); got != 3 {
		t.Errorf("retries %v, want 3", got)
	}
}

func TestRunnerBatchPanicDeadLettersBatchAndGoesOn(t *testing.T) {
	h := newHarness(t, 1)
	s := newRelay()
	s.batchPanics.Store(1)
	stop := pipelinetest.Start(t, h.runner(s))
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))})
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(2))})
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dlq := pipelinetest.ReadAll(t, h.addrs, dlqTopic)
	if len(dlq) != 1 || pipelinetest.Header(dlq[0], pipeline.HeaderErrorKind) != pipeline.KindPanic {
		t.Fatalf("dead letters %v", dlq)
	}
	if out := pipelinetest.ReadAll(t, h.addrs, outTopic); len(out) != 1 {
		t.Errorf("%d outputs after the panic, want 1", len(out))
	}
}

// holder retains every offset it has seen until released.
type holder struct {
	*relay
	mu       sync.Mutex
	oldest   map[pipeline.TopicPartition]int64
	released atomic.Bool
}

func (s *holder) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	s.mu.Lock()
	for _, m := range in {
		tp := pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}
		if _, ok := s.oldest[tp]; !ok {
			s.oldest[tp] = m.Offset
		}
	}
	s.mu.Unlock()
	return s.relay.Process(ctx, in, out)
}

func (s *holder) Retained() map[pipeline.TopicPartition]int64 {
	if s.released.Load() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[pipeline.TopicPartition]int64, len(s.oldest))
	for k, v := range s.oldest {
		out[k] = v
	}
	return out
}

func (s *holder) TickEvery() time.Duration                           { return 20 * time.Millisecond }
func (s *holder) Tick(context.Context, time.Time, *pipeline.Emitter) {}

func TestRunnerNeverCommitsPastRetained(t *testing.T) {
	h := newHarness(t, 1)
	for i := range 10 {
		pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(i))})
	}
	s := &holder{relay: newRelay(), oldest: map[pipeline.TopicPartition]int64{}}
	stop := pipelinetest.Start(t, h.runner(s))
	// Everything is processed, but offset 0 is retained: nothing may be committed past it.
	pipelinetest.Eventually(t, "the 10 outputs", func() bool { return len(pipelinetest.ReadAll(t, h.addrs, outTopic)) == 10 })
	time.Sleep(300 * time.Millisecond) // several commit intervals, each committing what is marked
	if got := committed(t, h.admin, "smaint-relay"); got > 0 {
		t.Fatalf("committed %d while offset 0 is retained", got)
	}
	s.released.Store(true)
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// committed returns the group's committed offset of partition 0 of inTopic,
// or -1 when it has committed none.
func committed(t *testing.T, cl *kgo.Client, group string) int64 {
	t.Helper()
	resp, err := kadm.NewClient(cl).FetchOffsetsForTopics(pipelinetest.Context(t), group, inTopic)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := resp.Lookup(inTopic, 0); ok && o.Err == nil {
		return o.At
	}
	return -1
}

// ticker emits a reading on every tick.
type ticker struct {
	*relay
	ticks atomic.Int32
}

func (s *ticker) TickEvery() time.Duration { return 10 * time.Millisecond }
func (s *ticker) Tick(_ context.Context, _ time.Time, out *pipeline.Emitter) {
	n := s.ticks.Add(1)
	s.out.Emit(out, "tick", reading(int(n)))
}

func TestRunnerTicksWithoutInput(t *testing.T) {
	h := newHarness(t, 1)
	s := &ticker{relay: newRelay()}
	stop := pipelinetest.Start(t, h.runner(s))
	pipelinetest.Eventually(t, "5 ticks", func() bool { return s.ticks.Load() >= 5 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	n := s.ticks.Load()
	// Every tick's output was acknowledged before Run returned.
	if out := pipelinetest.ReadAll(t, h.addrs, outTopic); len(out) != int(n) {
		t.Errorf("%d outputs for %d ticks", len(out), n)
	}
}

// A produce error that is not about the record (here: no right to write
// the topic) stops the runner, uncommitted: going on would lose outputs.
// A refusal of the record itself (invalid) sends it to the dead-letter
// topic instead, unless that fails too.
func TestRunnerStopsOnPermanentProduceError(t *testing.T) {
	tests := []struct {
		name   string
		faults map[string]*kerr.Error // topic -> the error its produce gets
		stops  bool
	}{
		{"not authorized", map[string]*kerr.Error{outTopic: kerr.TopicAuthorizationFailed}, true},
		{"record refused", map[string]*kerr.Error{outTopic: kerr.InvalidRecord}, false},
		{"record and its dead letter refused", map[string]*kerr.Error{outTopic: kerr.InvalidRecord, dlqTopic: kerr.InvalidRecord}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 1)
			pipelinetest.CreateTopic(t, h.admin, 1, outTopic, dlqTopic)
			for topic, err := range tc.faults {
				h.cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: err, Count: -1})
			}
			pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))})
			r := h.runner(newRelay())
			if !tc.stops {
				pipelinetest.Start(t, r)
				pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
				dlq := pipelinetest.ReadAll(t, h.addrs, dlqTopic)
				if len(dlq) != 1 || pipelinetest.Header(dlq[0], pipeline.HeaderErrorKind) != pipeline.KindRefused ||
					pipelinetest.Header(dlq[0], pipeline.HeaderTargetTopic) != outTopic {
					t.Fatalf("%d dead letters: %+v", len(dlq), dlq)
				}
				return
			}
			errc := make(chan error, 1)
			go func() { errc <- r.Run(context.Background()) }()
			select {
			case err := <-errc:
				if !errors.Is(err, pipeline.ErrProduce) {
					t.Fatalf("Run returned %v, want ErrProduce", err)
				}
			case <-time.After(time.Until(pipelinetest.Deadline(t))):
				t.Fatal("Run did not stop on a permanent produce error")
			}
			if got := committed(t, h.admin, "smaint-relay"); got > 0 {
				t.Errorf("committed %d past an unacknowledged output", got)
			}
		})
	}
}

func TestNewRunnerRejectsBadOptions(t *testing.T) {
	stage := newRelay()
	kafka := pipeline.KafkaOpts(kgo.SeedBrokers("127.0.0.1:1"))
	topics := pipeline.ConsumeTopics("in")
	tests := []struct {
		name string
		opts []pipeline.Option
	}{
		{"no kafka", []pipeline.Option{topics}},
		{"no topics", []pipeline.Option{kafka}},
		{"zero batch", []pipeline.Option{kafka, topics, pipeline.MaxBatch(0)}},
		{"zero inflight", []pipeline.Option{kafka, topics, pipeline.MaxInflightBatches(0)}},
		{"empty group", []pipeline.Option{kafka, topics, pipeline.Group("")}},
		{"bad backoff", []pipeline.Option{kafka, topics, pipeline.RetryBackoff(time.Second, time.Millisecond)}},
		{"zero partitions", []pipeline.Option{kafka, topics, pipeline.CreateTopics(0, 1)}},
		{"zero fetch per partition", []pipeline.Option{kafka, topics, pipeline.FetchMaxBytes(1<<20, 0)}},
		{"fetch under its partition share", []pipeline.Option{kafka, topics, pipeline.FetchMaxBytes(1<<10, 1<<20)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pipeline.NewRunner[schemas.SensorReading]("relay", stage, tc.opts...)
			if !errors.Is(err, pipeline.ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
		})
	}
	// A non-record input type needs DecodeWith.
	type pair struct{ a, b int }
	var ps pipeline.Stage[pair] = pipeline.StageFunc[pair](func(context.Context, []pipeline.Msg[pair], *pipeline.Emitter) error { return nil })
	if _, err := pipeline.NewRunner[pair]("p", ps, kafka, topics); !errors.Is(err, pipeline.ErrConfig) {
		t.Fatalf("got %v, want ErrConfig", err)
	}
}

// On cancel, Run drains: every batch processed before it returns is
// acknowledged and committed, so a successor starts exactly after it.
func TestRunnerShutdownCommitsWhatItProcessed(t *testing.T) {
	h := newHarness(t, 3)
	var recs []*kgo.Record
	for i := range 2000 {
		recs = append(recs, &kgo.Record{Topic: inTopic, Key: []byte(strconv.Itoa(i % 7)), Value: encode(t, reading(i))})
	}
	pipelinetest.Produce(t, h.admin, recs...)
	s := newRelay()
	// A long commit interval: only the drain can commit in time. A drain
	// as long as the test: however slow the machine, it completes.
	r := h.runner(s, pipeline.CommitInterval(time.Hour), pipeline.DrainTimeout(time.Until(pipelinetest.Deadline(t))))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	for s.calls.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := len(pipelinetest.ReadAll(t, h.addrs, outTopic))
	lag, err := pipeline.GroupLag(pipelinetest.Context(t), h.admin, "smaint-relay", inTopic)
	if err != nil {
		t.Fatal(err)
	}
	if committed := 2000 - lag; committed != int64(out) {
		t.Fatalf("%d outputs produced but %d inputs committed", out, committed)
	}
	// A successor finishes the rest without repeating anything.
	stop := pipelinetest.Start(t, h.runner(newRelay()))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(pipelinetest.ReadAll(t, h.addrs, outTopic)); n != 2000 {
		t.Fatalf("%d outputs in all, want exactly 2000", n)
	}
}

// A member leaving mid-stream hands its partitions over after committing:
// the survivor neither loses nor repeats input.
func TestRunnerRebalanceHandsOverCleanly(t *testing.T) {
	h := newHarness(t, 6)
	stopA := pipelinetest.Start(t, h.runner(newRelay()))
	stopB := pipelinetest.Start(t, h.runner(newRelay()))
	var recs []*kgo.Record
	for i := range 6000 {
		recs = append(recs, &kgo.Record{Topic: inTopic, Key: []byte(strconv.Itoa(i % 50)), Value: encode(t, reading(i))})
	}
	go pipelinetest.Produce(t, h.admin, recs...)
	for len(pipelinetest.ReadAll(t, h.addrs, outTopic)) < 1000 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	d := schemas.NewSerde().NewDecoder()
	for _, r := range pipelinetest.ReadAll(t, h.addrs, outTopic) {
		var v schemas.SensorReading
		if err := d.Decode(context.Background(), r.Value, &v); err != nil {
			t.Fatal(err)
		}
		seen[v.ReadingID]++
	}
	twice := 0
	for _, n := range seen {
		if n > 1 {
			twice++
		}
	}
	if len(seen) != 6000 || twice != 0 {
		t.Fatalf("%d distinct outputs of 6000, %d repeated", len(seen), twice)
	}
}

// counter checkpoints how many records of each partition it has seen.
type counter struct {
	*relay
	mu      sync.Mutex
	seen    map[pipeline.TopicPartition]int
	resumed map[pipeline.TopicPartition]string
}

func newCounter() *counter {
	return &counter{relay: newRelay(), seen: map[pipeline.TopicPartition]int{}, resumed: map[pipeline.TopicPartition]string{}}
}

func (c *counter) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	c.mu.Lock()
	for _, m := range in {
		c.seen[pipeline.TopicPartition{Topic: m.Topic, Partition: m.Partition}]++
	}
	c.mu.Unlock()
	return c.relay.Process(ctx, in, out)
}

func (c *counter) Checkpoint(tp pipeline.TopicPartition) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strconv.Itoa(c.seen[tp])
}

func (c *counter) Resume(tp pipeline.TopicPartition, cp string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resumed[tp] = cp
	c.seen[tp], _ = strconv.Atoi(cp)
}

// A checkpoint is committed with its offsets and handed back on resume.
func TestRunnerCommitsCheckpointsWithOffsets(t *testing.T) {
	h := newHarness(t, 3)
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: inTopic, Key: []byte(strconv.Itoa(i % 11)), Value: encode(t, reading(i))})
		}
		pipelinetest.Produce(t, h.admin, recs...)
	}
	produce(0, 300)
	first := newCounter()
	stop := pipelinetest.Start(t, h.runner(first))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for tp, cp := range first.resumed {
		if cp != "" {
			t.Errorf("fresh group resumed %v with checkpoint %q", tp, cp)
		}
	}
	produce(300, 450)
	second := newCounter()
	stop = pipelinetest.Start(t, h.runner(second))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	total := 0
	for tp, n := range first.seen {
		if got := second.resumed[tp]; got != strconv.Itoa(n) {
			t.Errorf("%v resumed with %q, want %d", tp, got, n)
		}
		total += second.seen[tp]
	}
	if total != 450 {
		t.Errorf("counts carried across the restart add up to %d, want 450", total)
	}
}
