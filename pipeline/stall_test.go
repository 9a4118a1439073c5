package pipeline_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// blocker's Process waits until release is closed, as a stage blocked on
// a locked table does.
type blocker struct {
	*relay
	release chan struct{}
}

func (b *blocker) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.relay.Process(ctx, in, out)
}

// A stage that holds a batch longer than its stall limit says so: not
// ready, with the reason, and smaint_stage_stalled at 1; and says when it
// is going again.
func TestRunnerReportsAStall(t *testing.T) {
	h := newHarness(t, 1)
	health := pipeline.NewHealth()
	st := &blocker{relay: newRelay(), release: make(chan struct{})}
	pipelinetest.Start(t, h.runner(st, pipeline.StallAfter(200*time.Millisecond), pipeline.WithHealth(health)))
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))})

	stage := func() pipeline.ComponentStatus {
		report, _ := health.Report()
		for _, c := range report {
			if c.Component == "stage/relay" {
				return c
			}
		}
		return pipeline.ComponentStatus{}
	}
	pipelinetest.Eventually(t, "the stall to be reported", func() bool {
		c := stage()
		return !c.Ready && strings.Contains(c.Detail, "stalled: a batch of 1 records has been in Process") &&
			pipelinetest.Metric(t, h.reg, "smaint_stage_stalled") == 1
	})
	close(st.release)
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	pipelinetest.Eventually(t, "the stall to end", func() bool {
		return stage().Ready && pipelinetest.Metric(t, h.reg, "smaint_stage_stalled") == 0
	})
}

// doorway's Process says it started, then waits for open (or its
// context).
type doorway struct {
	*relay
	entered chan struct{}
	open    chan struct{}
}

func (g *doorway) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.relay.Process(ctx, in, out)
}

// Shutdown lets a batch under way finish (within the drain timeout): its
// outputs are produced and its offsets committed, where cutting it off
// would leave the work to be done again after the restart.
func TestShutdownLetsTheBatchUnderWayFinish(t *testing.T) {
	h := newHarness(t, 1)
	g := &doorway{relay: newRelay(), entered: make(chan struct{}, 1), open: make(chan struct{})}
	r := h.runner(g)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))})
	<-g.entered
	cancel() // shutdown begins while the batch is in Process ...
	close(g.open)
	if err := <-done; err != nil { // ... and Run returns once it is through
		t.Fatalf("Run: %v", err)
	}
	if out := pipelinetest.ReadAll(t, h.addrs, outTopic); len(out) != 1 {
		t.Fatalf("%d outputs after shutdown, want the batch's 1", len(out))
	}
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
}

// StaticMember makes the runner a static member of its group under the
// given instance id (what lets a restarted pod take its partitions back
// without a rebalance); stopped on purpose, it leaves the group, so that
// a rolling update's new pods do not wait out the session timeout.
func TestRunnerJoinsAsAStaticMember(t *testing.T) {
	h := newHarness(t, 1)
	stop := pipelinetest.Start(t, h.runner(newRelay(), pipeline.StaticMember("pod-7"), pipeline.SessionTimeout(20*time.Second)))
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))})
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	groups, err := kadm.NewClient(h.admin).DescribeGroups(pipelinetest.Context(t), "smaint-relay")
	if err != nil {
		t.Fatal(err)
	}
	g := groups["smaint-relay"]
	if len(g.Members) != 1 || g.Members[0].InstanceID == nil || *g.Members[0].InstanceID != "pod-7" {
		t.Fatalf("group members %+v", g.Members)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	groups, err = kadm.NewClient(h.admin).DescribeGroups(pipelinetest.Context(t), "smaint-relay")
	if err != nil {
		t.Fatal(err)
	}
	if m := groups["smaint-relay"].Members; len(m) != 0 {
		t.Fatalf("after a planned stop, the group still has %+v", m)
	}
}
