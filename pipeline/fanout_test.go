package pipeline_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

func fanout(t *testing.T, parts ...pipeline.Part[schemas.SensorReading]) *pipeline.Fanout[schemas.SensorReading] {
	t.Helper()
	f, err := pipeline.NewFanout(nil, parts...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Through a runner on Kafka, every part sees every record once; a part
// that fails is retried alone, and one that panics dead-letters the batch
// under its own name while the other part's outputs stand.
func TestFanoutKeepsPartsFailuresApart(t *testing.T) {
	h := newHarness(t, 3)
	const good = 300
	var recs []*kgo.Record
	for i := range good {
		recs = append(recs, &kgo.Record{Topic: inTopic, Key: []byte(strconv.Itoa(i % 5)), Value: encode(t, reading(i))})
	}
	bad := reading(9000)
	bad.Quality = -1
	recs = append(recs, &kgo.Record{Topic: inTopic, Value: encode(t, bad)})
	pipelinetest.Produce(t, h.admin, recs...)

	a := newRelay()
	b := &relay{out: pipeline.NewOutput[*schemas.SensorReading]("out-b")}
	b.failures.Store(2)    // its first two calls fail (after emitting)
	b.batchPanics.Store(1) // and the third panics outside Each
	stop := pipelinetest.Start(t, h.runner(fanout(t, pipeline.Part[schemas.SensorReading]{Name: "a", Stage: a},
		pipeline.Part[schemas.SensorReading]{Name: "b", Stage: b})))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	if got := len(pipelinetest.ReadAll(t, h.addrs, outTopic)); got != good {
		t.Errorf("part a: %d outputs, want %d (once each)", got, good)
	}
	if a.calls.Load()+2 != b.calls.Load() {
		t.Errorf("part a called %d times, b %d: only b's failed calls should repeat", a.calls.Load(), b.calls.Load())
	}
	dead := map[string]map[string]int{"a": {}, "b": {}}
	for _, r := range pipelinetest.ReadAll(t, h.addrs, dlqTopic) {
		stage := pipelinetest.Header(r, pipeline.HeaderStage)
		if dead[stage] == nil {
			t.Fatalf("dead letter from stage %q", stage)
		}
		dead[stage][pipelinetest.Header(r, pipeline.HeaderErrorKind)]++
	}
	if len(dead["a"]) != 1 || dead["a"][pipeline.KindInvalid] != 1 {
		t.Errorf("part a's dead letters %v, want the one invalid reading", dead["a"])
	}
	panicked := dead["b"][pipeline.KindPanic]
	outB := len(pipelinetest.ReadAll(t, h.addrs, "out-b"))
	if panicked == 0 || outB+panicked+dead["b"][pipeline.KindInvalid] != good+1 {
		t.Errorf("part b: %d outputs, %d inputs dead-lettered by its panic, %d invalid; want them to add up to %d",
			outB, panicked, dead["b"][pipeline.KindInvalid], good+1)
	}
}

// part is a stage with every hook, recording what the Fanout passes on.
type part struct {
	every    time.Duration
	ticks    int
	retained map[pipeline.TopicPartition]int64
	cp       string
	resumed  []string
}

func (p *part) Process(context.Context, []pipeline.Msg[schemas.SensorReading], *pipeline.Emitter) error {
	return nil
}
func (p *part) TickEvery() time.Duration                           { return p.every }
func (p *part) Tick(context.Context, time.Time, *pipeline.Emitter) { p.ticks++ }
func (p *part) Retained() map[pipeline.TopicPartition]int64        { return p.retained }
func (p *part) Checkpoint(pipeline.TopicPartition) string          { return p.cp }
func (p *part) Resume(_ pipeline.TopicPartition, cp string)        { p.resumed = append(p.resumed, cp) }

func TestFanoutCombinesHooks(t *testing.T) {
	tp0, tp1 := pipeline.TopicPartition{Topic: "in", Partition: 0}, pipeline.TopicPartition{Topic: "in", Partition: 1}
	x := &part{every: time.Second, retained: map[pipeline.TopicPartition]int64{tp0: 50, tp1: 7}, cp: "x1 42"}
	y := &part{every: 3 * time.Second, retained: map[pipeline.TopicPartition]int64{tp0: 20}, cp: `y"2`}
	f := fanout(t, pipeline.Part[schemas.SensorReading]{Name: "x", Stage: x}, pipeline.Part[schemas.SensorReading]{Name: "y", Stage: y})

	if got := f.TickEvery(); got != time.Second {
		t.Errorf("TickEvery %v, want the shortest part's", got)
	}
	l, err := pipeline.NewLocal(context.Background(), "x+y", pipeline.Stage[schemas.SensorReading](f), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	for s := range 7 { // a tick a second for 7 s
		if _, err := l.Tick(context.Background(), t0.Add(time.Duration(s)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if x.ticks != 7 || y.ticks != 3 {
		t.Errorf("ticks: x %d, y %d; want 7 and 3 (each on its own period)", x.ticks, y.ticks)
	}

	if got := f.Retained(); len(got) != 2 || got[tp0] != 20 || got[tp1] != 7 {
		t.Errorf("Retained %v, want the smallest per partition", got)
	}

	cp := f.Checkpoint(tp0)
	f.Resume(tp0, cp)
	if len(x.resumed) != 1 || x.resumed[0] != "x1 42" || y.resumed[0] != `y"2` {
		t.Errorf("checkpoint %q resumed x with %q, y with %q", cp, x.resumed, y.resumed)
	}
	f.Resume(tp0, "f1 1 2 3") // not a Fanout's checkpoint: each part starts afresh
	f.Resume(tp0, "")
	if x.resumed[1] != "" || x.resumed[2] != "" || y.resumed[2] != "" {
		t.Errorf("unreadable or no checkpoint resumed x with %q, y with %q", x.resumed, y.resumed)
	}
	x.cp, y.cp = "", ""
	if got := f.Checkpoint(tp0); got != "" {
		t.Errorf("no part checkpoints, Fanout gave %q", got)
	}
}

func TestNewFanoutRejectsBadParts(t *testing.T) {
	ok := pipeline.Part[schemas.SensorReading]{Name: "a", Stage: newRelay()}
	for _, parts := range [][]pipeline.Part[schemas.SensorReading]{
		nil,
		{{Name: "", Stage: newRelay()}},
		{ok, {Name: "a", Stage: newRelay()}},
		{{Name: "b"}},
	} {
		if _, err := pipeline.NewFanout(nil, parts...); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("%d parts: %v, want ErrConfig", len(parts), err)
		}
	}
}
