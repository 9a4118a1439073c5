package pipeline_test

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// hot passes on readings above a limit and rejects negative quality.
type hot struct {
	limit float64
	out   *pipeline.Output[*schemas.SensorReading]
}

func (h *hot) Outputs() []pipeline.Port { return []pipeline.Port{h.out} }

func (h *hot) Process(_ context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.SensorReading]) error {
		if m.Value.Quality < 0 {
			return pipeline.Invalidf("quality %d", m.Value.Quality)
		}
		if m.Value.Value > h.limit {
			h.out.Emit(out, m.Value.SensorID, &m.Value)
		}
		return nil
	})
	return nil
}

// A stage can be driven without Kafka, as unit tests and backtests do.
func ExampleLocal() {
	ctx := context.Background()
	stage := &hot{limit: 80, out: pipeline.NewOutput[*schemas.SensorReading]("hot")}
	local, err := pipeline.NewLocal(ctx, "hot", pipeline.Stage[schemas.SensorReading](stage), nil)
	if err != nil {
		panic(err)
	}
	in := []pipeline.Msg[schemas.SensorReading]{
		{Value: schemas.SensorReading{SensorID: "a", Value: 75}},
		{Value: schemas.SensorReading{SensorID: "b", Value: 91}},
		{Value: schemas.SensorReading{SensorID: "c", Value: 99, Quality: -1}},
	}
	res, err := local.Process(ctx, in)
	if err != nil {
		panic(err)
	}
	hotOnes, _ := pipeline.Decode[schemas.SensorReading](ctx, res, "hot")
	for _, r := range hotOnes {
		fmt.Println("hot:", r.SensorID, r.Value)
	}
	for _, r := range res.Rejected {
		fmt.Println("rejected:", in[r.Index].Value.SensorID, r.Kind, r.Err)
	}
	// Output:
	// hot: b 91
	// rejected: c invalid invalid record: quality -1
}

// A Runner runs a stage between Kafka topics; here on an in-process
// cluster. Run blocks until its context ends, then drains and commits.
func ExampleNewRunner() {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "sensor.readings", "sensor.hot"))
	if err != nil {
		panic(err)
	}
	defer cluster.Close()
	brokers := kgo.SeedBrokers(cluster.ListenAddrs()...)

	// Some readings to work on.
	prod, err := pipeline.NewProducer(pipeline.KafkaOpts(brokers))
	if err != nil {
		panic(err)
	}
	defer prod.Close()
	readings := pipeline.NewOutput[*schemas.SensorReading]("sensor.readings")
	ctx := context.Background()
	if err := prod.Bind(ctx, readings); err != nil {
		panic(err)
	}
	for i, v := range []float64{70, 85, 90, 60} {
		r := &schemas.SensorReading{SensorID: fmt.Sprint("s", i), Value: v}
		if err := pipeline.Send(ctx, prod, readings, r.SensorID, r); err != nil {
			panic(err)
		}
	}
	if err := prod.Flush(ctx); err != nil {
		panic(err)
	}

	stage := &hot{limit: 80, out: pipeline.NewOutput[*schemas.SensorReading]("sensor.hot")}
	runner, err := pipeline.NewRunner[schemas.SensorReading]("hot", stage,
		pipeline.KafkaOpts(brokers), pipeline.ConsumeTopics("sensor.readings"))
	if err != nil {
		panic(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(rctx) }()

	// Wait until the group has committed everything, then stop it.
	admin, _ := kgo.NewClient(brokers)
	defer admin.Close()
	for {
		lag, err := pipeline.GroupLag(ctx, admin, "smaint-hot", "sensor.readings")
		if err == nil && lag == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		panic(err)
	}

	// Read what it produced.
	reader, _ := kgo.NewClient(brokers, kgo.ConsumeTopics("sensor.hot"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer reader.Close()
	dec := schemas.NewSerde().NewDecoder()
	for n := 0; n < 2; {
		reader.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			var r schemas.SensorReading
			if err := dec.Decode(ctx, rec.Value, &r); err == nil {
				fmt.Printf("%s %v\n", rec.Key, r.Value)
				n++
			}
		})
	}
	// Output:
	// s1 85
	// s2 90
}
