package features_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/features"
)

// Readings go in; a FeatureVector comes out for each window the watermark
// (the newest event time minus the lateness) has passed.
func Example() {
	ctx := context.Background()
	stage, err := features.New(features.Config{Size: time.Minute, Lateness: 5 * time.Second})
	if err != nil {
		panic(err)
	}
	local, err := pipeline.NewLocal(ctx, "features", pipeline.Stage[schemas.SensorReading](stage), nil)
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	var in []pipeline.Msg[schemas.SensorReading]
	for i := range 70 { // one reading a second for 70 s: the first minute closes at 65 s
		in = append(in, pipeline.Msg[schemas.SensorReading]{Offset: int64(i), Value: schemas.SensorReading{
			SensorID: "pump-7-temp", AssetID: "pump-7", SensorType: "temperature",
			TS: start.Add(time.Duration(i) * time.Second), Value: 70 + float64(i%3)}})
	}
	res, err := local.Process(ctx, in)
	if err != nil {
		panic(err)
	}
	fvs, _ := pipeline.Decode[schemas.FeatureVector](ctx, res, "sensor.features")
	for _, fv := range fvs {
		fmt.Printf("%s %s-%s count %d mean %.2f std %.3f p2p %.0f slope %.4f/s\n", fv.SensorID,
			fv.WindowStart.Format("15:04:05"), fv.WindowEnd.Format("15:04:05"), fv.Count, fv.Mean, fv.Std, fv.PeakToPeak, fv.Slope)
	}
	// Output:
	// pump-7-temp 08:00:00-08:01:00 count 60 mean 71.00 std 0.823 p2p 2 slope 0.0022/s
}
