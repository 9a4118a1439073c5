package interop_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// TestPythonReadsPredictionRecords: the example Python consumer (the Avro
// reference library, with the schema file smaint schemas print gives)
// reads the records of the prediction topics as smaint's encoder writes
// them: forecasts, PREDICTED alerts, and a classifier's and a
// remaining-life model's predictions, maps and timestamps included.
func TestPythonReadsPredictionRecords(t *testing.T) {
	py := pipelinetest.Python(t, "confluent_kafka", "avro")
	c := pipelinetest.Cluster(t)
	addr := c.ListenAddrs()[0]
	cl := pipelinetest.Client(t, c.ListenAddrs())
	at := time.Date(2026, 12, 1, 9, 30, 0, 250e6, time.UTC)
	forecast := &schemas.Forecast{SensorID: "asset-007-temperature", AssetID: "asset-007", SensorType: "temperature", Feature: "mean",
		IssuedAt: at, HorizonS: 1800, Observed: 71.5, Level: 71.2, TrendPerHour: 6.5, Value: 74.4, Lower: 73.1, Upper: 75.7,
		LimitDirection: "above", Limit: 75, CrossesInS: 2100, CrossesEarliestS: 1500, CrossesLatestS: -1, Model: "holt-damped"}
	alert := &schemas.Alert{AlertID: "a-1", AssetID: "asset-007", SensorID: "asset-007-temperature", SensorType: "temperature",
		Kind: schemas.KindPredicted, Severity: schemas.SeverityWarning, State: schemas.StateOpen, OpenedAt: at, LastSeen: at, Occurrences: 2,
		Summary: "The mean of temperature on asset-007 will go above its limit of 75 in about 35m0s", RecommendedAction: "Before 2026-12-01T10:05:00Z: check cooling",
		Evidence: map[string]float64{"limit": 75, "crosses_in_s": 2100, "observed": 71.5}, Onset: at.Add(-time.Minute)}
	classified := &schemas.Prediction{AssetID: "asset-007", WindowStart: at.Add(-time.Minute), WindowEnd: at, Model: "gbdt-failure", ModelVersion: "v3",
		Probabilities: map[string]float64{"Machine failure": 0.91, "HDF": 0.88}, Threshold: 0.5, Inputs: map[string]float64{"temperature": 71.5},
		Drivers: map[string]float64{"temperature": 1.7}, RemainingLife: -1, RemainingLower: -1, RemainingUpper: -1}
	remaining := &schemas.Prediction{AssetID: "engine-3", WindowStart: at.Add(-time.Minute), WindowEnd: at, Model: "gbdt-rul", ModelVersion: "v1",
		Probabilities: map[string]float64{}, Inputs: map[string]float64{"s4": 1408.2}, Drivers: map[string]float64{"s4:since_start": -12.7},
		RemainingLife: 51.93, RemainingLower: 33.91, RemainingUpper: 68.57}

	topics := map[string][]schemas.Record{"sensor.forecasts": {forecast}, "maintenance.alerts": {alert}, "asset.predictions": {classified, remaining}}
	for topic, recs := range topics {
		pipelinetest.CreateTopic(t, cl, 1, topic)
		enc, err := schemas.NewSerde().NewEncoder(context.Background(), recs[0].AvroSchema(), topic+"-value")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			b, err := enc.Append(nil, r)
			if err != nil {
				t.Fatal(err)
			}
			pipelinetest.Produce(t, cl, &kgo.Record{Topic: topic, Key: []byte("k"), Value: b})
		}
	}

	got := consume(t, py, addr, "sensor.forecasts", schemaFile(t, "Forecast"))
	if len(got) != 1 {
		t.Fatalf("read %d forecasts", len(got))
	}
	f := got[0].Value
	if f["sensor_id"] != forecast.SensorID || f["value"] != forecast.Value || f["crosses_in_s"] != forecast.CrossesInS ||
		f["crosses_latest_s"] != -1.0 || f["limit_direction"] != "above" || f["issued_at"] != "2026-12-01T09:30:00.250000+00:00" {
		t.Errorf("forecast as Python reads it: %v", f)
	}

	got = consume(t, py, addr, "maintenance.alerts", schemaFile(t, "Alert"))
	if len(got) != 1 {
		t.Fatalf("read %d alerts", len(got))
	}
	a := got[0].Value
	ev, _ := a["evidence"].(map[string]any)
	if a["kind"] != "PREDICTED" || a["severity"] != "WARNING" || a["state"] != "OPEN" || a["summary"] != alert.Summary ||
		ev["crosses_in_s"] != 2100.0 || ev["observed"] != 71.5 || a["onset"] != "2026-12-01T09:29:00.250000+00:00" {
		t.Errorf("alert as Python reads it: %v", a)
	}

	got = consume(t, py, addr, "asset.predictions", schemaFile(t, "Prediction"))
	if len(got) != 2 {
		t.Fatalf("read %d predictions", len(got))
	}
	p, r := got[0].Value, got[1].Value
	probs, _ := p["probabilities"].(map[string]any)
	drivers, _ := r["drivers"].(map[string]any)
	if p["model"] != "gbdt-failure" || probs["Machine failure"] != 0.91 || p["remaining_life"] != -1.0 ||
		r["remaining_life"] != 51.93 || r["remaining_lower"] != 33.91 || drivers["s4:since_start"] != -12.7 {
		t.Errorf("predictions as Python reads them:\n%v\n%v", p, r)
	}
}
