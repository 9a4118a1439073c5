package stages_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages"
)

// Which stages read what, and what "--stages features,score" runs.
func ExampleSelect() {
	topics := pipeline.DefaultTopics()
	specs, _ := stages.Select(topics, []string{"features", "score"}, false)
	for _, s := range specs {
		fmt.Println(s.Name, s.Inputs, "->", s.Outputs)
	}
	// Output:
	// features [sensor.readings.clean] -> [sensor.features sensor.readings.late]
	// score [sensor.features] -> [sensor.scores sensor.score.state]
}

// The analytics in process, as a backtest runs them: readings in, every
// stage downstream of the clean topic, windows out.
func ExampleOffline() {
	ctx := context.Background()
	topics := pipeline.DefaultTopics()
	c := stages.DefaultConfig()
	off, _ := stages.Offline(ctx, &c, stages.Downstream(topics, topics.Clean))
	pipeline.Observe(off, topics.Features, func(fv *schemas.FeatureVector) {
		fmt.Printf("%s %s: %d readings, mean %.1f\n", fv.SensorID, fv.WindowStart.Format("15:04"), fv.Count, fv.Mean)
	})
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	var rs []schemas.SensorReading
	for i := range 120 { // two minutes at 1 Hz
		rs = append(rs, schemas.SensorReading{ReadingID: fmt.Sprint(i), SensorID: "p-1", AssetID: "pump-1", SensorType: "pressure",
			TS: t0.Add(time.Duration(i) * time.Second), Value: 4 + float64(i%2), Unit: "bar", Quality: 100})
	}
	_ = pipeline.Push(ctx, off, topics.Clean, rs)
	_ = off.Tick(ctx, time.Now().Add(time.Hour)) // the end of the input: close what is open
	// Output:
	// p-1 08:00: 60 readings, mean 4.5
	// p-1 08:01: 60 readings, mean 4.5
}
