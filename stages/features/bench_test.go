package features_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/simulate"
)

// BenchmarkFeatures measures the stage on simulated readings of 20 assets
// (temperature, vibration, pressure, current: 560 readings a second of
// event time) in batches of 1000, window computation and emission included.
func BenchmarkFeatures(b *testing.B) {
	for _, win := range []string{"60s", "60s/15s"} {
		b.Run("windows="+win, func(b *testing.B) {
			sim, err := simulate.New(simulate.Config{Span: 2 * time.Hour, Start: t0, Scenarios: []string{}})
			if err != nil {
				b.Fatal(err)
			}
			var rs []pipeline.Msg[schemas.SensorReading]
			for off := int64(0); ; off++ {
				ev, ok, _ := sim.Next()
				if !ok {
					break
				}
				rs = append(rs, pipeline.Msg[schemas.SensorReading]{Value: ev.Reading, Offset: off})
			}
			cfg := features.Config{}
			if err := features.ParseWindows(win, &cfg); err != nil {
				b.Fatal(err)
			}
			s, _ := features.New(cfg)
			local, _ := pipeline.NewLocal(context.Background(), "features", pipeline.Stage[schemas.SensorReading](s), nil)
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			readings, windows, next := 0, 0, 0
			for b.Loop() {
				if next+1000 > len(rs) {
					b.StopTimer()
					s, _ = features.New(cfg)
					local, _ = pipeline.NewLocal(context.Background(), "features", pipeline.Stage[schemas.SensorReading](s), nil)
					next = 0
					b.StartTimer()
				}
				res, err := local.Process(context.Background(), rs[next:next+1000])
				if err != nil {
					b.Fatal(err)
				}
				next += 1000
				readings += 1000
				windows += len(res.Records)
			}
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(readings), "ns/reading")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(readings), "allocs/reading")
			b.ReportMetric(float64(readings)/float64(max(windows, 1)), "readings/window")
		})
	}
}
