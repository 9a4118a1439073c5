package forecast_test

import (
	"context"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/forecast"
)

// BenchmarkForecast is the cost of one window: the model fitted to a
// sensor's hour of history and its path to a 30-minute horizon, with a
// limit to cross.
func BenchmarkForecast(b *testing.B) {
	s, err := forecast.New(forecast.Config{Limits: []forecast.Limit{{SensorType: "temperature", Rise: ptr(5)}}})
	if err != nil {
		b.Fatal(err)
	}
	l, err := pipeline.NewLocal(context.Background(), "forecast", pipeline.Stage[schemas.FeatureVector](s), nil)
	if err != nil {
		b.Fatal(err)
	}
	const sensors = 100
	batch := make([]pipeline.Msg[schemas.FeatureVector], sensors)
	i := 0
	for b.Loop() {
		for k := range batch {
			batch[k] = pipeline.Msg[schemas.FeatureVector]{Topic: "features", Offset: int64(i*sensors + k), Value: schemas.FeatureVector{
				SensorID: "s" + string(rune('A'+k%26)) + string(rune('a'+k/26)), AssetID: "a", SensorType: "temperature",
				WindowStart: t0.Add(time.Duration(i) * time.Minute), WindowEnd: t0.Add(time.Duration(i+1) * time.Minute),
				Mean: 65 + float64(i%7)*0.01, Count: 60}}
		}
		if _, err := l.Process(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sensors), "ns/window")
}
