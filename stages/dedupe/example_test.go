package dedupe_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/dedupe"
)

// The dedupe stage passes the first sighting of each reading and drops
// repeats; a repeat at the same input position is a replay and passes.
func Example() {
	ctx := context.Background()
	stage, err := dedupe.New(dedupe.Config{}) // local only; set Log or Claims to share through Redis
	if err != nil {
		panic(err)
	}
	local, err := pipeline.NewLocal(ctx, "dedupe", pipeline.Stage[schemas.SensorReading](stage), nil)
	if err != nil {
		panic(err)
	}
	reading := func(id string, offset int64) pipeline.Msg[schemas.SensorReading] {
		return pipeline.Msg[schemas.SensorReading]{Offset: offset, Value: schemas.SensorReading{
			ReadingID: id, SensorID: "pump-7-temp", AssetID: "pump-7", SensorType: "temperature",
			TS: time.Now().Add(-time.Second), Value: 71.5, Unit: "C", Quality: 98}}
	}
	a, b := "0b9e4a52-3c1f-4d6e-8a7b-9c0d1e2f3a4b", "5d2c8f01-77aa-4c3b-9e10-aa0b1c2d3e4f"
	batch := []pipeline.Msg[schemas.SensorReading]{reading(a, 0), reading(b, 1), reading(a, 2), reading("not-a-uuid", 3)}
	res, err := local.Process(ctx, batch)
	if err != nil {
		panic(err)
	}
	fmt.Println("passed:", len(res.Records), "rejected:", len(res.Rejected), res.Rejected[0].Kind)
	// The same input again, as after a restart: both are replays.
	res, _ = local.Process(ctx, batch[:2])
	fmt.Println("replayed and passed:", len(res.Records))
	// Output:
	// passed: 2 rejected: 1 invalid
	// replayed and passed: 2
}
