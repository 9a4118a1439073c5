package alert_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/alert"
)

// Scores go in; an alert opens when 2 of a sensor's last 3 windows are
// anomalous, and says what to do.
func Example() {
	ctx := context.Background()
	stage, err := alert.New(alert.Config{})
	if err != nil {
		panic(err)
	}
	local, err := pipeline.NewLocal(ctx, "alert", pipeline.Stage[alert.Event](stage), nil)
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	var in []pipeline.Msg[alert.Event]
	for i, s := range []float64{0.1, 0.2, 0.9, 0.1, 0.95, 0.97} {
		in = append(in, pipeline.Msg[alert.Event]{Topic: "sensor.scores", Offset: int64(i), Value: alert.Event{Score: &schemas.AnomalyScore{
			SensorID: "pump-7-vibration", AssetID: "pump-7", SensorType: "vibration",
			WindowStart: start.Add(time.Duration(i) * time.Minute), WindowEnd: start.Add(time.Duration(i+1) * time.Minute),
			Score: s, Threshold: 0.5, IsAnomaly: s >= 0.5, Detector: "adaptive",
			Contributions: map[string]float64{"kurtosis": 0.8, "rms": 0.2}, Deviations: map[string]float64{"kurtosis": 9, "rms": 3}}}})
	}
	res, err := local.Process(ctx, in)
	if err != nil {
		panic(err)
	}
	alerts, _ := pipeline.Decode[schemas.Alert](ctx, res, "maintenance.alerts")
	for _, a := range alerts {
		fmt.Println(a.State, a.Kind, a.Severity, a.SensorID, "at", a.LastSeen.Format("15:04"))
		fmt.Println(a.RecommendedAction)
	}
	// Output:
	// OPEN ANOMALY WARNING pump-7-vibration at 08:05
	// Inspect bearing lubrication and alignment: impulsive vibration points to bearing defects.
}
