package alert

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// ActionRule maps an alert's symptoms to what to do about them. Empty
// fields match anything. Rules are tried in order; the first that matches
// gives the recommended action. A rule with a Feature matches when that
// feature deviated from the sensor's baseline by at least SymptomDeviation
// spreads, in its Direction (either, if none); a rule with only a
// Direction looks at the driver with the largest share.
type ActionRule struct {
	Kind       string `json:"kind,omitempty"`        // ANOMALY, DRIFT, SENSOR_SILENT, THRESHOLD
	SensorType string `json:"sensor_type,omitempty"` // e.g. vibration
	Feature    string `json:"feature,omitempty"`     // e.g. kurtosis; "spectrum" stands for the band energies
	Direction  string `json:"direction,omitempty"`   // up or down (the feature's deviation sign)
	Action     string `json:"action"`
}

// DefaultActions is the built-in table; user rules go before it.
var DefaultActions = []ActionRule{
	{Kind: "SENSOR_SILENT", Action: "Check the sensor's power, cabling and gateway; the asset is unmonitored until it reports again."},
	{Kind: "DRIFT", Action: "Verify the sensor's calibration and recent changes to the asset or its process; a retrain of the model was requested."},
	{SensorType: "vibration", Feature: "kurtosis", Direction: "up", Action: "Inspect bearing lubrication and alignment: impulsive vibration points to bearing defects."},
	{SensorType: "vibration", Feature: "crest_factor", Direction: "up", Action: "Inspect bearing lubrication and alignment: impulsive vibration points to bearing defects."},
	{SensorType: "vibration", Feature: "mean", Action: "A steady offset on a vibration signal points at the sensor: check its mounting, cabling and bias voltage."},
	{SensorType: "vibration", Feature: "rms", Direction: "up", Action: "Check balance, alignment and mounting; schedule a vibration analysis and inspect the bearings."},
	{SensorType: "vibration", Feature: "std", Direction: "up", Action: "Check balance, alignment and mounting; schedule a vibration analysis and inspect the bearings."},
	{SensorType: "vibration", Feature: "spectrum", Direction: "up", Action: "Check balance, alignment and mounting; schedule a vibration analysis and inspect the bearings."},
	{SensorType: "acoustic", Direction: "up", Action: "Listen for cavitation, leaks or bearing noise; inspect seals and bearings."},
	{SensorType: "temperature", Direction: "up", Action: "Check cooling and lubrication; look for friction, overload or a blocked airflow."},
	{SensorType: "temperature", Direction: "down", Action: "Check the process feed and heaters; verify the sensor's contact."},
	{SensorType: "pressure", Direction: "up", Action: "Check for a blockage, a closed valve or a clogged filter downstream."},
	{SensorType: "pressure", Direction: "down", Action: "Check for leaks, pump wear or an open bypass."},
	{SensorType: "current", Direction: "up", Action: "Check for mechanical overload or binding; inspect the motor windings and supply."},
	{SensorType: "current", Direction: "down", Action: "Check for a lost load (broken coupling, dry running) or a supply fault."},
	{SensorType: "humidity", Action: "Check enclosure seals and HVAC."},
	{Action: "Inspect the asset and compare with its recent maintenance history."},
}

// LoadActions reads rules from a JSON file (an array of ActionRule) and
// returns them followed by the defaults.
func LoadActions(path string) ([]ActionRule, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: actions: %w", pipeline.ErrConfig, err)
	}
	var rules []ActionRule
	if err := json.Unmarshal(b, &rules); err != nil {
		return nil, fmt.Errorf("%w: actions %s: %w", pipeline.ErrConfig, path, err)
	}
	for i, r := range rules {
		if r.Action == "" {
			return nil, fmt.Errorf("%w: actions %s: rule %d has no action", pipeline.ErrConfig, path, i)
		}
		if r.Direction != "" && r.Direction != "up" && r.Direction != "down" {
			return nil, fmt.Errorf("%w: actions %s: rule %d: direction %q (want up or down)", pipeline.ErrConfig, path, i, r.Direction)
		}
		if r.Kind != "" {
			var k schemas.AlertKind
			if err := k.UnmarshalText([]byte(r.Kind)); err != nil {
				return nil, fmt.Errorf("%w: actions %s: rule %d: %w", pipeline.ErrConfig, path, i, err)
			}
		}
	}
	return append(rules, DefaultActions...), nil
}

// SymptomDeviation is how far, in baseline spreads, a feature must have
// moved for a rule naming it to match.
const SymptomDeviation = 3

// driver is a feature behind an alert, with its share and direction.
type driver struct {
	feature string
	share   float64
	dev     float64
}

// recommend picks the action for an alert of kind on a sensor type, given
// its drivers in order of share and every feature's deviation.
func recommend(rules []ActionRule, kind schemas.AlertKind, sensorType string, drivers []driver, deviations map[string]float64) string {
	sym := symptoms(deviations)
	for _, r := range rules {
		if r.Kind != "" && r.Kind != kind.String() || r.SensorType != "" && r.SensorType != sensorType {
			continue
		}
		switch {
		case r.Feature == "" && r.Direction == "":
			return r.Action
		case r.Feature == "": // a direction alone speaks of the top driver
			if len(drivers) > 0 && directionMatches(r.Direction, drivers[0].dev) {
				return r.Action
			}
		default:
			if dev, ok := sym[r.Feature]; ok && math.Abs(dev) >= SymptomDeviation && directionMatches(r.Direction, dev) {
				return r.Action
			}
		}
	}
	return ""
}

// symptoms are the deviations by feature, with the band energies as one
// "spectrum" feature (their largest deviation).
func symptoms(deviations map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(deviations))
	for f, d := range deviations {
		if strings.HasPrefix(f, "band_") {
			if math.Abs(d) > math.Abs(out["spectrum"]) {
				out["spectrum"] = d
			}
			continue
		}
		out[f] = d
	}
	return out
}

func directionMatches(dir string, dev float64) bool {
	switch dir {
	case "up":
		return dev > 0
	case "down":
		return dev < 0
	}
	return true
}
