package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// scale emits each reading it reads to its output topic with the value
// multiplied; it rejects negative values.
type scale struct {
	out    *pipeline.Output[*schemas.SensorReading]
	factor float64
	ticks  int
}

func newScale(topic string, factor float64) *scale {
	return &scale{out: pipeline.NewOutput[*schemas.SensorReading](topic), factor: factor}
}

func (s *scale) Outputs() []pipeline.Port { return []pipeline.Port{s.out} }

func (s *scale) Process(_ context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.SensorReading]) error {
		if m.Value.Value < 0 {
			return pipeline.Invalidf("negative")
		}
		r := m.Value
		r.Value *= s.factor
		s.out.Emit(out, r.SensorID, &r)
		return nil
	})
	return nil
}

func (s *scale) TickEvery() time.Duration { return time.Second }

func (s *scale) Tick(_ context.Context, _ time.Time, out *pipeline.Emitter) {
	s.ticks++
	r := reading(0)
	r.SensorID = "tick"
	s.out.Emit(out, r.SensorID, r)
}

func node(name string, st pipeline.Stage[schemas.SensorReading], shares bool, inputs ...string) pipeline.Node {
	n := pipeline.NewNode(name, inputs, st, nil)
	n.Shares = shares
	return n
}

func TestShareJoinsSharingStagesOfTheSameInputs(t *testing.T) {
	nodes := []pipeline.Node{
		node("a", newScale("x", 1), true, "in"),
		node("b", newScale("y", 1), false, "in"),
		node("c", newScale("z", 1), true, "in"),
		node("d", newScale("w", 1), true, "other"),
		node("e", newScale("v", 1), true, "in", "other"),
	}
	got, err := pipeline.Share(nodes, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range got {
		names = append(names, n.Name)
	}
	if want := []string{"a+c", "b", "d", "e"}; !slices.Equal(names, want) {
		t.Fatalf("shared %v, want %v", names, want)
	}

	// Stages that read different types cannot share one decode.
	fv := pipeline.NewNode("f", []string{"in"}, pipeline.StageFunc[schemas.FeatureVector](
		func(context.Context, []pipeline.Msg[schemas.FeatureVector], *pipeline.Emitter) error { return nil }), nil)
	fv.Shares = true
	if _, err := pipeline.Share([]pipeline.Node{nodes[0], fv}, nil); !errors.Is(err, pipeline.ErrConfig) {
		t.Fatalf("sharing across types: %v", err)
	}
	for _, bad := range []pipeline.Node{{Name: "nameless-stage"}, node("", newScale("x", 1), false, "in"), node("no-input", newScale("x", 1), false)} {
		if _, err := pipeline.Share([]pipeline.Node{bad}, nil); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("node %+v: %v", bad, err)
		}
	}
}

func TestRunnersNameTheSharedRunner(t *testing.T) {
	h := newHarness(t, 1)
	rs, err := pipeline.Runners([]pipeline.Node{
		node("a", newScale("x", 1), true, inTopic), node("b", newScale("y", 1), true, inTopic), node("c", newScale("z", 1), false, inTopic),
	}, pipeline.KafkaOpts(kgo.SeedBrokers(h.addrs...)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.(interface{ Name() string }).Name())
	}
	if want := []string{"a+b", "c"}; !slices.Equal(names, want) {
		t.Fatalf("runners %v, want %v", names, want)
	}
}

// TestOfflineRoutesEveryRecordDownstream: what a stage emits reaches the
// stages that read its topic before Push returns, in emit order, through
// the codec, and taps see it first.
func TestOfflineRoutesEveryRecordDownstream(t *testing.T) {
	ctx := context.Background()
	first, second, side := newScale("mid", 2), newScale("out", 10), newScale("side", -1)
	o, err := pipeline.NewOffline(ctx,
		node("first", first, false, "in"), node("second", second, false, "mid"), node("side", side, false, "in"))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	var outs []float64
	pipeline.Observe(o, "mid", func(r *schemas.SensorReading) { order = append(order, "mid") })
	pipeline.Observe(o, "out", func(r *schemas.SensorReading) { order = append(order, "out"); outs = append(outs, r.Value) })
	pipeline.Observe(o, "side", func(r *schemas.SensorReading) { order = append(order, "side") })
	in := []schemas.SensorReading{*reading(1), *reading(2)}
	if err := pipeline.Push(ctx, o, "in", in); err != nil {
		t.Fatal(err)
	}
	if want := []float64{20, 40}; !slices.Equal(outs, want) {
		t.Errorf("out %v, want %v", outs, want)
	}
	// Depth first: first's outputs go all the way down before side runs.
	if want := []string{"mid", "mid", "out", "out", "side", "side"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}

	// Tick reaches every ticking stage, and its output goes downstream.
	order = nil
	if err := o.Tick(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"mid", "out", "out", "side"}; first.ticks != 1 || second.ticks != 1 || side.ticks != 1 || !slices.Equal(order, want) {
		t.Errorf("ticks %d %d %d, records %v", first.ticks, second.ticks, side.ticks, order)
	}

	// A rejected record fails the push: offline there is no dead-letter topic.
	bad := *reading(3)
	bad.Value = -1
	if err := pipeline.Push(ctx, o, "in", []schemas.SensorReading{bad}); err == nil || !errors.Is(err, pipeline.ErrInvalid) {
		t.Errorf("push of a record a stage rejects: %v", err)
	}
	// A stage of another type cannot take the push.
	if err := pipeline.Push(ctx, o, "in", []int{1}); !errors.Is(err, pipeline.ErrConfig) {
		t.Errorf("push of ints: %v", err)
	}
}

type service func(ctx context.Context) error

func (s service) Run(ctx context.Context) error { return s(ctx) }

func TestRunAllStopsTheRestOnAFailure(t *testing.T) {
	boom := errors.New("boom")
	stopped := make(chan struct{})
	err := pipeline.RunAll(context.Background(),
		service(func(ctx context.Context) error { <-ctx.Done(); close(stopped); return ctx.Err() }),
		service(func(context.Context) error { return boom }))
	if !errors.Is(err, boom) {
		t.Fatalf("RunAll: %v, want boom", err)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("RunAll returned before the other service stopped")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pipeline.RunAll(ctx, service(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })); err != nil {
		t.Fatalf("RunAll on an ended context: %v", err)
	}
}
