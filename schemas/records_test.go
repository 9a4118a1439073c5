package schemas

import (
	"math"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 123456000, time.UTC)

// sampleRecords holds one filled-in value of every record type, each with
// the native form goavro must decode its encoding into.
func sampleRecords() []struct {
	rec    Record
	native map[string]any
} {
	t1 := t0.Add(time.Minute)
	return []struct {
		rec    Record
		native map[string]any
	}{
		{
			&SensorReading{ReadingID: "6f1c0d2e-8a5b-4c1e-9f3a-2b7d4e6a8c10", SensorID: "s-1", AssetID: "pump-7",
				SensorType: "vibration", TS: t0, Value: -3.25, Unit: "mm/s", Quality: 97, Tags: map[string]string{"line": "A"}},
			map[string]any{"reading_id": "6f1c0d2e-8a5b-4c1e-9f3a-2b7d4e6a8c10", "sensor_id": "s-1", "asset_id": "pump-7",
				"sensor_type": "vibration", "ts": t0, "value": -3.25, "unit": "mm/s", "quality": int32(97),
				"tags": map[string]any{"line": "A"}},
		},
		{
			&FeatureVector{SensorID: "s-1", AssetID: "pump-7", SensorType: "vibration", WindowStart: t0, WindowEnd: t1,
				Count: 600, Mean: 1, Std: 2, Min: -3, Max: 4, RMS: 5, Skewness: 6, Kurtosis: 7, CrestFactor: 8,
				PeakToPeak: 9, Slope: 10, BandEnergies: []float64{0.5, 0.25}, LateCount: 3},
			map[string]any{"sensor_id": "s-1", "asset_id": "pump-7", "sensor_type": "vibration", "window_start": t0,
				"window_end": t1, "count": int64(600), "mean": 1.0, "std": 2.0, "min": -3.0, "max": 4.0, "rms": 5.0,
				"skewness": 6.0, "kurtosis": 7.0, "crest_factor": 8.0, "peak_to_peak": 9.0, "slope": 10.0,
				"band_energies": []any{0.5, 0.25}, "late_count": int64(3)},
		},
		{
			&AnomalyScore{SensorID: "s-1", AssetID: "pump-7", SensorType: "vibration", WindowStart: t0, WindowEnd: t1,
				Score: 0.93, Threshold: 0.7, IsAnomaly: true, Detector: "iforest", ModelVersion: "v3",
				Contributions: map[string]float64{"rms": 1}, Deviations: map[string]float64{"rms": -6.5}},
			map[string]any{"sensor_id": "s-1", "asset_id": "pump-7", "sensor_type": "vibration", "window_start": t0,
				"window_end": t1, "score": 0.93, "threshold": 0.7, "is_anomaly": true, "detector": "iforest",
				"model_version": "v3", "contributions": map[string]any{"rms": 1.0}, "deviations": map[string]any{"rms": -6.5}},
		},
		{
			&DriftReport{SensorID: "s-1", AssetID: "pump-7", SensorType: "vibration", ReferenceStart: t0, ReferenceEnd: t1,
				CurrentStart: t1, CurrentEnd: t1.Add(time.Minute), ReferenceCount: 100, CurrentCount: 90,
				KSStatistic: 0.4, KSPValue: 1e-9, PSI: 0.31, Drifted: true, Method: "ks+psi"},
			map[string]any{"sensor_id": "s-1", "asset_id": "pump-7", "sensor_type": "vibration", "reference_start": t0,
				"reference_end": t1, "current_start": t1, "current_end": t1.Add(time.Minute), "reference_count": int64(100),
				"current_count": int64(90), "ks_statistic": 0.4, "ks_p_value": 1e-9, "psi": 0.31, "drifted": true,
				"method": "ks+psi"},
		},
		{
			&Forecast{SensorID: "s-1", AssetID: "pump-7", SensorType: "temperature", Feature: "mean", IssuedAt: t1, HorizonS: 1800,
				Observed: 71.2, Level: 71, TrendPerHour: 4, Value: 72.5, Lower: 71.5, Upper: 73.5, LimitDirection: "above", Limit: 72,
				CrossesInS: 1200, CrossesEarliestS: 700, CrossesLatestS: -1, Model: "holt-damped"},
			map[string]any{"sensor_id": "s-1", "asset_id": "pump-7", "sensor_type": "temperature", "feature": "mean", "issued_at": t1,
				"horizon_s": 1800.0, "observed": 71.2, "level": 71.0, "trend_per_hour": 4.0, "value": 72.5, "lower": 71.5, "upper": 73.5,
				"limit_direction": "above", "limit": 72.0, "crosses_in_s": 1200.0, "crosses_earliest_s": 700.0, "crosses_latest_s": -1.0,
				"model": "holt-damped"},
		},
		{
			&Prediction{AssetID: "pump-7", WindowStart: t0, WindowEnd: t1, Model: "gbdt-failure", ModelVersion: "v2",
				Probabilities: map[string]float64{"Machine failure": 0.9}, Threshold: 0.5,
				Inputs: map[string]float64{"temperature": 310.2}, Drivers: map[string]float64{"temperature": 1.5},
				RemainingLife: -1, RemainingLower: -1, RemainingUpper: -1},
			map[string]any{"asset_id": "pump-7", "window_start": t0, "window_end": t1, "model": "gbdt-failure", "model_version": "v2",
				"probabilities": map[string]any{"Machine failure": 0.9}, "threshold": 0.5,
				"inputs": map[string]any{"temperature": 310.2}, "drivers": map[string]any{"temperature": 1.5},
				"remaining_life": -1.0, "remaining_lower": -1.0, "remaining_upper": -1.0},
		},
		{
			&StageState{Key: "pump-7", Value: []byte(`{"start":1}`)},
			map[string]any{"key": "pump-7", "value": []byte(`{"start":1}`)},
		},
		{
			&Alert{AlertID: "a-1", AssetID: "pump-7", SensorID: "s-1", SensorType: "vibration", Kind: KindSensorSilent,
				Severity: SeverityCritical, State: StateUpdated, OpenedAt: t0, LastSeen: t1, Occurrences: 4,
				Summary: "silent", RecommendedAction: "check the gateway", Evidence: map[string]float64{"score": 0.9}, Onset: t0.Add(-time.Minute)},
			map[string]any{"alert_id": "a-1", "asset_id": "pump-7", "sensor_id": "s-1", "sensor_type": "vibration",
				"kind": "SENSOR_SILENT", "severity": "CRITICAL", "state": "UPDATED", "opened_at": t0, "last_seen": t1,
				"occurrences": int64(4), "summary": "silent", "recommended_action": "check the gateway",
				"evidence": map[string]any{"score": 0.9}, "onset": t0.Add(-time.Minute)},
		},
		{
			&RetrainEvent{EventID: "e-1", ModelName: "iforest-vibration", Scope: "sensor_type:vibration", Reason: "drift",
				SensorID: "s-1", KSStatistic: 0.4, KSPValue: 0.001, PSI: 0.3, RequestedAt: t0},
			map[string]any{"event_id": "e-1", "model_name": "iforest-vibration", "scope": "sensor_type:vibration",
				"reason": "drift", "sensor_id": "s-1", "ks_statistic": 0.4, "ks_p_value": 0.001, "psi": 0.3, "requested_at": t0},
		},
		{
			&ModelUpdated{ModelName: "iforest-vibration", Version: "v4", URI: "file:///m/v4.json", SHA256: "ab12",
				TrainedAt: t1, TrainFrom: t0, TrainUntil: t1, Metrics: map[string]float64{"auc": 0.97}, Action: ModelPublished, Reason: "drift on s-1"},
			map[string]any{"model_name": "iforest-vibration", "version": "v4", "uri": "file:///m/v4.json", "sha256": "ab12",
				"trained_at": t1, "train_from": t0, "train_until": t1, "metrics": map[string]any{"auc": 0.97}, "action": "published", "reason": "drift on s-1"},
		},
		{
			&Maintenance{AssetID: "pump-7", PerformedAt: t0, Action: "replacement", Renews: true, Note: "bearing replaced"},
			map[string]any{"asset_id": "pump-7", "performed_at": t0, "action": "replacement", "renews": true, "note": "bearing replaced"},
		},
	}
}

// newRecord returns a zero value of the same record type as r.
func newRecord(r Record) Record {
	return reflect.New(reflect.TypeOf(r).Elem()).Interface().(Record)
}

// TestCodecsMatchGoavro holds every hand-written codec to goavro: goavro
// must decode our bytes into the expected native value, goavro's bytes for
// that value must equal ours, and our decoder must read them back equal.
func TestCodecsMatchGoavro(t *testing.T) {
	for _, tc := range sampleRecords() {
		sc := tc.rec.AvroSchema()
		t.Run(sc.Name(), func(t *testing.T) {
			ours := tc.rec.AppendAvro(nil)
			native, rest, err := sc.codec.NativeFromBinary(ours)
			if err != nil || len(rest) != 0 {
				t.Fatalf("goavro cannot read our bytes: %v (%d left)", err, len(rest))
			}
			if !reflect.DeepEqual(normalize(native), normalize(tc.native)) {
				t.Errorf("goavro read\n%#v\nwant\n%#v", native, tc.native)
			}
			theirs, err := sc.codec.BinaryFromNative(nil, tc.native)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ours, theirs) {
				t.Errorf("bytes differ\nours   % x\ngoavro % x", ours, theirs)
			}
			got := newRecord(tc.rec)
			r := reader{b: theirs, intern: NewInterner(0)}
			got.decodeAvro(&r)
			if err := r.end(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.rec) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, tc.rec)
			}
		})
	}
}

// normalize makes goavro's time values comparable with ==.
func normalize(v any) any {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().UnixMicro()
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

func TestPrimitiveEdges(t *testing.T) {
	longs := []int64{0, 1, -1, 63, -64, 64, math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	for _, v := range longs {
		b := appendLong(nil, v)
		r := reader{b: b}
		if got := r.long(); got != v || r.end() != nil {
			t.Errorf("long %d: got %d err %v", v, got, r.err)
		}
		want, _ := longCodec.BinaryFromNative(nil, v)
		if !reflect.DeepEqual(b, want) {
			t.Errorf("long %d: % x, goavro % x", v, b, want)
		}
	}
	for _, f := range []float64{0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64} {
		r := reader{b: appendDouble(nil, f)}
		if got := r.double(); math.Float64bits(got) != math.Float64bits(f) {
			t.Errorf("double %v: got %v", f, got)
		}
	}
	// Many-entry maps come out in Go's map order; goavro must still read them.
	m := map[string]string{}
	for i := range 50 {
		m[string(rune('a'+i%26))+string(rune('A'+i/26))] = "v"
	}
	rd := &SensorReading{ReadingID: "x", Tags: m}
	native, _, err := SensorReadingSchema.codec.NativeFromBinary(rd.AppendAvro(nil))
	if err != nil || len(native.(map[string]any)["tags"].(map[string]any)) != 50 {
		t.Fatalf("50-entry map: %v", err)
	}
	// The zero time round-trips.
	var zero SensorReading
	var back SensorReading
	r := reader{b: zero.AppendAvro(nil)}
	back.decodeAvro(&r)
	if r.end() != nil || !back.TS.IsZero() {
		t.Errorf("zero time read back as %v (%v)", back.TS, r.err)
	}
}

// Blocks written with a negative count carry their byte size; goavro never
// writes them, other Avro libraries may.
func TestNegativeBlockCount(t *testing.T) {
	var b []byte
	b = appendLong(b, -2)
	b = appendLong(b, 16)
	b = appendDouble(b, 1.5)
	b = appendDouble(b, 2.5)
	b = append(b, 0)
	r := reader{b: b}
	if got := r.doubleArray(); !reflect.DeepEqual(got, []float64{1.5, 2.5}) || r.end() != nil {
		t.Fatalf("got %v, %v", got, r.err)
	}
}

// TestMapsEncodeInKeyOrder: a record with maps encodes to the same bytes
// every time, whatever order Go iterates the maps in, so a replayed output
// is identical to the first.
func TestMapsEncodeInKeyOrder(t *testing.T) {
	ev := map[string]float64{}
	tags := map[string]string{}
	for i := range 20 { // more keys than the on-stack buffer holds
		ev[string(rune('a'+i))] = float64(i)
		tags[string(rune('z'-i))] = "v"
	}
	a := &Alert{AlertID: "a-1", Evidence: ev}
	r := &SensorReading{ReadingID: "6f1c0d2e-8a5b-4c1e-9f3a-2b7d4e6a8c10", Tags: tags}
	first, firstR := a.AppendAvro(nil), r.AppendAvro(nil)
	for range 50 {
		if got := a.AppendAvro(nil); string(got) != string(first) {
			t.Fatal("an alert's evidence encoded in two different orders")
		}
		if got := r.AppendAvro(nil); string(got) != string(firstR) {
			t.Fatal("a reading's tags encoded in two different orders")
		}
	}
}
