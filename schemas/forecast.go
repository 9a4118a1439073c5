package schemas

import "time"

// Forecast says where one feature of a sensor is heading (forecast.avsc),
// issued when one of its windows closes. (SensorID, IssuedAt) identifies
// it. Kafka key: SensorID.
type Forecast struct {
	SensorID     string
	AssetID      string
	SensorType   string
	Feature      string    // e.g. "mean"
	IssuedAt     time.Time // the end of the last window seen
	HorizonS     float64   // seconds from IssuedAt to Value
	Observed     float64   // the feature in the last window
	Level        float64   // smoothed level now
	TrendPerHour float64
	Value        float64 // forecast at the horizon
	Lower, Upper float64 // its 80% interval
	// LimitDirection is "above" or "below" (the failure side of Limit),
	// or empty when the sensor has no limit.
	LimitDirection string
	Limit          float64
	// CrossesInS is the seconds from IssuedAt until the forecast crosses
	// the limit: 0 when the level is beyond it already, -1 when it does
	// not cross within the horizon or there is no limit. CrossesEarliestS
	// and CrossesLatestS bound it (80%); -1 is beyond the horizon.
	CrossesInS       float64
	CrossesEarliestS float64
	CrossesLatestS   float64
	Model            string
}

// Predicts reports whether f's point forecast crosses its limit within
// the horizon, or the limit is crossed already.
func (f *Forecast) Predicts() bool { return f.LimitDirection != "" && f.CrossesInS >= 0 }

// AvroSchema returns ForecastSchema.
func (*Forecast) AvroSchema() *Schema { return ForecastSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *Forecast) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.SensorID)
	dst = appendString(dst, v.AssetID)
	dst = appendString(dst, v.SensorType)
	dst = appendString(dst, v.Feature)
	dst = appendTime(dst, v.IssuedAt)
	for _, f := range [...]float64{v.HorizonS, v.Observed, v.Level, v.TrendPerHour, v.Value, v.Lower, v.Upper} {
		dst = appendDouble(dst, f)
	}
	dst = appendString(dst, v.LimitDirection)
	for _, f := range [...]float64{v.Limit, v.CrossesInS, v.CrossesEarliestS, v.CrossesLatestS} {
		dst = appendDouble(dst, f)
	}
	return appendString(dst, v.Model)
}

func (v *Forecast) decodeAvro(r *reader) {
	v.SensorID = r.istr()
	v.AssetID = r.istr()
	v.SensorType = r.fstr()
	v.Feature = r.fstr()
	v.IssuedAt = r.time()
	for _, f := range [...]*float64{&v.HorizonS, &v.Observed, &v.Level, &v.TrendPerHour, &v.Value, &v.Lower, &v.Upper} {
		*f = r.double()
	}
	v.LimitDirection = r.fstr()
	for _, f := range [...]*float64{&v.Limit, &v.CrossesInS, &v.CrossesEarliestS, &v.CrossesLatestS} {
		*f = r.double()
	}
	v.Model = r.fstr()
}
