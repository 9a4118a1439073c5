package features_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/features"
)

// racingClock moves an hour on every reading: to the stage, each batch
// looks as if it had taken far longer than the idle timeout, as on a
// machine too busy to keep up.
type racingClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *racingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Hour)
	return c.t
}

// TestBacklogIsNeverIdle runs the stage on Kafka over a backlog, in small
// batches, with a clock on which every batch outlasts the idle timeout:
// idle close must wait until the partition is read to its end, so the
// windows are exactly those of an uninterrupted run in process.
func TestBacklogIsNeverIdle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs on an in-process broker")
	}
	ctx := context.Background()
	rs := simulated(t, 10*time.Minute)
	want := map[string]schemas.FeatureVector{}
	for _, fv := range run(t, newEnv(t, nil), rs, 500) {
		want[fv.SensorID+fv.WindowStart.String()] = fv
	}

	c := pipelinetest.Cluster(t)
	cl := pipelinetest.Client(t, c.ListenAddrs())
	pipelinetest.CreateTopic(t, cl, 1, "clean")
	pipelinetest.Produce(t, cl, pipelinetest.Readings(t, "clean", rs)...)

	clk := &racingClock{t: t0}
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
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	pipelinetest.WaitCommitted(t, cl, "smaint-features", "clean")
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	got := pipelinetest.ReadAll(t, c.ListenAddrs(), "sensor.features")
	if late := pipelinetest.ReadAll(t, c.ListenAddrs(), "sensor.readings.late"); len(late) != 0 {
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
