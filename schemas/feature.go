package schemas

import (
	"fmt"
	"time"
)

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

// Value returns the feature called name ("mean", "std", "min", "max",
// "rms", "skewness", "kurtosis", "crest_factor", "peak_to_peak", "slope",
// or "band_N"), and whether v has it.
func (v *FeatureVector) Value(name string) (float64, bool) {
	switch name {
	case "mean":
		return v.Mean, true
	case "std":
		return v.Std, true
	case "min":
		return v.Min, true
	case "max":
		return v.Max, true
	case "rms":
		return v.RMS, true
	case "skewness":
		return v.Skewness, true
	case "kurtosis":
		return v.Kurtosis, true
	case "crest_factor":
		return v.CrestFactor, true
	case "peak_to_peak":
		return v.PeakToPeak, true
	case "slope":
		return v.Slope, true
	}
	var i int
	if _, err := fmt.Sscanf(name, "band_%d", &i); err == nil && i >= 0 && i < len(v.BandEnergies) && name == fmt.Sprintf("band_%d", i) {
		return v.BandEnergies[i], true
	}
	return 0, false
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
