package schemas

import "time"

// AnomalyScore is a detector's verdict on one FeatureVector
// (anomaly_score.avsc). (SensorID, WindowStart) identifies it.
// Kafka key: SensorID.
type AnomalyScore struct {
	SensorID      string
	AssetID       string
	SensorType    string
	WindowStart   time.Time
	WindowEnd     time.Time
	Score         float64 // 0 (normal) to 1
	Threshold     float64
	IsAnomaly     bool
	Detector      string
	ModelVersion  string
	Contributions map[string]float64 // feature name -> share of the score
	Deviations    map[string]float64 // feature name -> signed deviation from the baseline, in spreads
}

// AvroSchema returns AnomalyScoreSchema.
func (*AnomalyScore) AvroSchema() *Schema { return AnomalyScoreSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *AnomalyScore) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.SensorID)
	dst = appendString(dst, v.AssetID)
	dst = appendString(dst, v.SensorType)
	dst = appendTime(dst, v.WindowStart)
	dst = appendTime(dst, v.WindowEnd)
	dst = appendDouble(dst, v.Score)
	dst = appendDouble(dst, v.Threshold)
	dst = appendBool(dst, v.IsAnomaly)
	dst = appendString(dst, v.Detector)
	dst = appendString(dst, v.ModelVersion)
	dst = appendDoubleMap(dst, v.Contributions)
	return appendDoubleMap(dst, v.Deviations)
}

func (v *AnomalyScore) decodeAvro(r *reader) {
	v.SensorID = r.istr()
	v.AssetID = r.istr()
	v.SensorType = r.fstr()
	v.WindowStart = r.time()
	v.WindowEnd = r.time()
	v.Score = r.double()
	v.Threshold = r.double()
	v.IsAnomaly = r.boolean()
	v.Detector = r.fstr()
	v.ModelVersion = r.fstr()
	v.Contributions = r.doubleMap()
	v.Deviations = r.doubleMap()
}
