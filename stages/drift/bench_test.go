package drift_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/drift"
)

// BenchmarkDrift measures readings through the stage: 100 sensors at
// 10 readings a second, 5-minute windows, comparisons included.
func BenchmarkDrift(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const sensors = 100
	ids := make([]string, sensors)
	for i := range ids {
		ids[i] = "s" + string(rune('A'+i%26)) + string(rune('a'+i/26))
	}
	s, _ := drift.New(drift.Config{})
	local, _ := pipeline.NewLocal(context.Background(), "drift", pipeline.Stage[schemas.SensorReading](s), nil)
	batch := make([]pipeline.Msg[schemas.SensorReading], 1000)
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i] = pipeline.Msg[schemas.SensorReading]{Offset: int64(n), Value: schemas.SensorReading{
				SensorID: ids[n%sensors], SensorType: "pressure", TS: t0.Add(time.Duration(n/sensors) * 100 * time.Millisecond),
				Value: rng.NormFloat64()}}
			n++
		}
		if _, err := local.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/reading")
}
