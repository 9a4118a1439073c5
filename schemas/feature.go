package schemas

import "time"

// FeatureVector holds the features of one sensor over one event-time window
// (feature_vector.avsc). (SensorID, WindowStart) identifies it, so a replay
// produces the same identity. Kafka key: SensorID.
type FeatureVector struct {
	SensorID     string
	AssetID      string
	SensorType   string
	WindowStart  time.Time
	WindowEnd    time.Time
	Count        int64
	Mean         float64
	Std          float64 // sample standard deviation
	Min          float64
	Max          float64
	RMS          float64
	Skewness     float64
	Kurtosis     float64 // excess kurtosis
	CrestFactor  float64
	PeakToPeak   float64
	Slope        float64 // least-squares slope, value units per second
	BandEnergies []float64
	LateCount    int64
}

// AvroSchema returns FeatureVectorSchema.
func (*FeatureVector) AvroSchema() *Schema { return FeatureVectorSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *FeatureVector) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.SensorID)
	dst = appendString(dst, v.AssetID)
	dst = appendString(dst, v.SensorType)
	dst = appendTime(dst, v.WindowStart)
	dst = appendTime(dst, v.WindowEnd)
	dst = appendLong(dst, v.Count)
	for _, f := range [...]float64{v.Mean, v.Std, v.Min, v.Max, v.RMS, v.Skewness,
		v.Kurtosis, v.CrestFactor, v.PeakToPeak, v.Slope} {
		dst = appendDouble(dst, f)
	}
	dst = appendDoubleArray(dst, v.BandEnergies)
	return appendLong(dst, v.LateCount)
}

func (v *FeatureVector) decodeAvro(r *reader) {
	v.SensorID = r.istr()
	v.AssetID = r.istr()
	v.SensorType = r.fstr()
	v.WindowStart = r.time()
	v.WindowEnd = r.time()
	v.Count = r.long()
	for _, f := range [...]*float64{&v.Mean, &v.Std, &v.Min, &v.Max, &v.RMS, &v.Skewness,
		&v.Kurtosis, &v.CrestFactor, &v.PeakToPeak, &v.Slope} {
		*f = r.double()
	}
	v.BandEnergies = r.doubleArray()
	v.LateCount = r.long()
}
