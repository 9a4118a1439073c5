package schemas_test

import (
	"context"
	"fmt"
	"time"

	"github.com/smaint/smaint/schemas"
)

// A Serde without a registry writes Avro single-object encoding; its
// Decoder reads that as well as Confluent-framed values.
func ExampleSerde() {
	ctx := context.Background()
	serde := schemas.NewSerde()
	enc, err := serde.NewEncoder(ctx, schemas.SensorReadingSchema, "sensor.readings-value")
	if err != nil {
		panic(err)
	}
	in := &schemas.SensorReading{
		ReadingID: "0b9e4a52-3c1f-4d6e-8a7b-9c0d1e2f3a4b", SensorID: "pump-7/temp", AssetID: "pump-7",
		SensorType: "temperature", TS: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Value: 71.5, Unit: "C", Quality: 99,
	}
	value, err := enc.Append(nil, in)
	if err != nil {
		panic(err)
	}
	fmt.Printf("framing % x\n", value[:2])

	var out schemas.SensorReading
	if err := serde.NewDecoder().Decode(ctx, value, &out); err != nil {
		panic(err)
	}
	fmt.Println(out.SensorID, out.TS.Format(time.RFC3339), out.Value, out.Unit)
	// Output:
	// framing c3 01
	// pump-7/temp 2026-01-02T03:04:05Z 71.5 C
}
