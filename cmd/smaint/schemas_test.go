package main

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/smaint/smaint/schemas"
)

// TestSchemasRegister registers every subject, the readings topic's
// included, at FULL_TRANSITIVE, under the names the prefix and the
// subject strategy give; a second run changes nothing.
func TestSchemasRegister(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{"sensor.readings-value", "sensor.readings.clean-value", "sensor.features-value", "sensor.scores-value", "sensor.drift-value",
			"sensor.forecasts-value", "maintenance.alerts-value", "model.retrain-value", "model.updates-value", "sensor.readings.late-value",
			"asset.features-value", "asset.predictions-value", "asset.rul.state-value", "sensor.forecast.state-value", "sensor.score.state-value", "asset.maintenance-value"}},
		{[]string{"--topic-prefix", "plant1.", "--topic", "alerts=plant1-alerts"}, []string{"plant1.sensor.readings-value", "plant1.sensor.readings.clean-value",
			"plant1.sensor.features-value", "plant1.sensor.scores-value", "plant1.sensor.drift-value", "plant1.sensor.forecasts-value", "plant1-alerts-value",
			"plant1.model.retrain-value", "plant1.model.updates-value", "plant1.sensor.readings.late-value",
			"plant1.asset.features-value", "plant1.asset.predictions-value", "plant1.asset.rul.state-value", "plant1.sensor.forecast.state-value", "plant1.sensor.score.state-value", "plant1.asset.maintenance-value"}},
		{[]string{"--subject-strategy", "record"}, []string{"io.smaint.v1.SensorReading", "io.smaint.v1.FeatureVector", "io.smaint.v1.AnomalyScore",
			"io.smaint.v1.DriftReport", "io.smaint.v1.Forecast", "io.smaint.v1.Alert", "io.smaint.v1.RetrainEvent", "io.smaint.v1.ModelUpdated", "io.smaint.v1.Prediction", "io.smaint.v1.StageState", "io.smaint.v1.Maintenance"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			fake := srfake.New()
			t.Cleanup(fake.Close)
			args := append([]string{"schemas", "register", "--registry", fake.URL(), "--json"}, tc.args...)
			var first []schemas.Registration
			for i := range 2 {
				code, stdout, stderr := runCLI(t, context.Background(), args...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				var regs []schemas.Registration
				if err := json.Unmarshal([]byte(stdout), &regs); err != nil {
					t.Fatalf("%v: %s", err, stdout)
				}
				if i == 0 {
					first = regs
				} else if !reflect.DeepEqual(regs, first) {
					t.Fatalf("registering again changed them:\n%+v\n%+v", first, regs)
				}
			}
			cl, err := sr.NewClient(sr.URLs(fake.URL()))
			if err != nil {
				t.Fatal(err)
			}
			subjects, err := cl.Subjects(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(subjects)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(subjects, want) {
				t.Fatalf("subjects %v\nwant %v", subjects, want)
			}
			for _, c := range cl.Compatibility(context.Background(), subjects...) {
				if c.Err != nil || c.Level.String() != schemas.Compatibility {
					t.Errorf("%s: compatibility %v (%v), want %s", c.Subject, c.Level, c.Err, schemas.Compatibility)
				}
			}
		})
	}
}

// TestSchemasPrint prints a record's .avsc, by record or topic name, and
// its canonical form with the fingerprint producers frame it with.
func TestSchemasPrint(t *testing.T) {
	file, err := os.ReadFile("../../schemas/sensor_reading.avsc")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"SensorReading", "io.smaint.v1.SensorReading", "sensor.readings"} {
		code, stdout, stderr := runCLI(t, context.Background(), "schemas", "print", name)
		if code != 0 || strings.TrimSpace(stdout) != strings.TrimSpace(string(file)) {
			t.Fatalf("print %s: exit %d %s\n%s", name, code, stderr, stdout)
		}
	}
	code, stdout, _ := runCLI(t, context.Background(), "schemas", "print", "SensorReading", "--canonical")
	if code != 0 || !strings.Contains(stdout, schemas.SensorReadingSchema.CanonicalForm()) || !strings.Contains(stdout, "0x047e536e150daacc") ||
		!strings.Contains(stdout, "c3 01 cc aa 0d 15 6e 53 7e 04") {
		t.Fatalf("--canonical: exit %d\n%s", code, stdout)
	}
}
