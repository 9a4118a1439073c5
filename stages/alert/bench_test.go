package alert_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/alert"
)

// BenchmarkAlert feeds the alert stage a minute of scores of 10,000
// sensors per batch, one in a hundred anomalous (so alerts open, update and
// resolve), and reports the cost per score.
func BenchmarkAlert(b *testing.B) {
	ctx := context.Background()
	st, err := alert.New(alert.Config{})
	if err != nil {
		b.Fatal(err)
	}
	local, err := pipeline.NewLocal(ctx, "alert", pipeline.Stage[alert.Event](st), nil)
	if err != nil {
		b.Fatal(err)
	}
	const sensors = 10_000
	ids := make([]string, sensors)
	for i := range ids {
		ids[i] = fmt.Sprintf("asset-%04d-vibration", i)
	}
	scores := make([]schemas.AnomalyScore, sensors)
	in := make([]pipeline.Msg[alert.Event], sensors)
	start := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	var offset int64
	n := 0
	for minute := 0; b.Loop(); minute++ {
		ws := start.Add(time.Duration(minute) * time.Minute)
		for i := range scores {
			anomalous := (i+minute/10)%100 == 0
			s := 0.1
			if anomalous {
				s = 0.95
			}
			scores[i] = schemas.AnomalyScore{SensorID: ids[i], AssetID: ids[i][:10], SensorType: "vibration",
				WindowStart: ws, WindowEnd: ws.Add(time.Minute), Score: s, Threshold: 0.5, IsAnomaly: anomalous,
				Detector: "adaptive", Contributions: map[string]float64{"rms": 1}, Deviations: map[string]float64{"rms": 6}}
			in[i] = pipeline.Msg[alert.Event]{Topic: "sensor.scores", Partition: int32(i % 6), Offset: offset, Value: alert.Event{Score: &scores[i]}}
			offset++
		}
		if _, err := local.Process(ctx, in); err != nil {
			b.Fatal(err)
		}
		n += sensors
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/score")
}
