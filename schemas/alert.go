package schemas

import (
	"fmt"
	"time"
)

// AlertKind is what raised an alert (Avro enum AlertKind).
type AlertKind uint8

// Alert kinds, in the order of the schema's symbols.
const (
	KindAnomaly AlertKind = iota
	KindDrift
	KindThreshold
	KindSensorSilent
	KindPredicted // a forecast foresees the sensor's limit crossed
)

var alertKindNames = [...]string{"ANOMALY", "DRIFT", "THRESHOLD", "SENSOR_SILENT", "PREDICTED"}

// Severity ranks alerts (Avro enum Severity).
type Severity uint8

// Severities, lowest first.
const (
	SeverityInfo Severity = iota
	SeverityWarning
	SeverityCritical
)

var severityNames = [...]string{"INFO", "WARNING", "CRITICAL"}

// AlertState is where an alert is in its life (Avro enum AlertState).
type AlertState uint8

// Alert states.
const (
	StateOpen AlertState = iota
	StateUpdated
	StateResolved
)

var alertStateNames = [...]string{"OPEN", "UPDATED", "RESOLVED"}

func (k AlertKind) String() string  { return enumName(alertKindNames[:], int(k)) }
func (s Severity) String() string   { return enumName(severityNames[:], int(s)) }
func (s AlertState) String() string { return enumName(alertStateNames[:], int(s)) }

// MarshalText makes the enums read as their symbols in JSON.
func (k AlertKind) MarshalText() ([]byte, error)  { return []byte(k.String()), nil }
func (s Severity) MarshalText() ([]byte, error)   { return []byte(s.String()), nil }
func (s AlertState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a symbol.
func (k *AlertKind) UnmarshalText(b []byte) error { return enumParse(alertKindNames[:], b, k) }
func (s *Severity) UnmarshalText(b []byte) error  { return enumParse(severityNames[:], b, s) }
func (s *AlertState) UnmarshalText(b []byte) error {
	return enumParse(alertStateNames[:], b, s)
}

func enumName(names []string, i int) string {
	if i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("enum(%d)", i)
}

func enumParse[E ~uint8](names []string, b []byte, dst *E) error {
	for i, n := range names {
		if n == string(b) {
			*dst = E(i)
			return nil
		}
	}
	return fmt.Errorf("schemas: unknown symbol %q (want one of %v)", b, names)
}

// Alert is one maintenance incident (alert.avsc). Each change of state is a
// new record with the same AlertID: OPEN once, UPDATED while it lasts,
// RESOLVED once. Kafka key: SensorID.
type Alert struct {
	AlertID           string
	AssetID           string
	SensorID          string
	SensorType        string
	Kind              AlertKind
	Severity          Severity
	State             AlertState
	OpenedAt          time.Time
	LastSeen          time.Time
	Occurrences       int64
	Summary           string
	RecommendedAction string
	Evidence          map[string]float64
	// Onset is when the anomaly began (see the schema); zero when the
	// writer did not say.
	Onset time.Time
}

// AvroSchema returns AlertSchema.
func (*Alert) AvroSchema() *Schema { return AlertSchema }

// AppendAvro appends the Avro binary encoding of v to dst. Enum values must
// be among the declared constants.
func (v *Alert) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.AlertID)
	dst = appendString(dst, v.AssetID)
	dst = appendString(dst, v.SensorID)
	dst = appendString(dst, v.SensorType)
	dst = appendLong(dst, int64(v.Kind))
	dst = appendLong(dst, int64(v.Severity))
	dst = appendLong(dst, int64(v.State))
	dst = appendTime(dst, v.OpenedAt)
	dst = appendTime(dst, v.LastSeen)
	dst = appendLong(dst, v.Occurrences)
	dst = appendString(dst, v.Summary)
	dst = appendString(dst, v.RecommendedAction)
	dst = appendDoubleMap(dst, v.Evidence)
	return appendTime(dst, v.Onset)
}

func (v *Alert) decodeAvro(r *reader) {
	v.AlertID = r.str()
	v.AssetID = r.istr()
	v.SensorID = r.istr()
	v.SensorType = r.fstr()
	v.Kind = AlertKind(r.enum(len(alertKindNames)))
	v.Severity = Severity(r.enum(len(severityNames)))
	v.State = AlertState(r.enum(len(alertStateNames)))
	v.OpenedAt = r.time()
	v.LastSeen = r.time()
	v.Occurrences = r.long()
	v.Summary = r.str()
	v.RecommendedAction = r.istr()
	v.Evidence = r.doubleMap()
	v.Onset = r.time()
}
