package schemas

import "time"

// DriftReport compares a reference window of a sensor's raw values with its
// current window (drift_report.avsc). Kafka key: SensorID.
type DriftReport struct {
	SensorID       string // empty when the report covers a whole SensorType
	AssetID        string
	SensorType     string
	ReferenceStart time.Time
	ReferenceEnd   time.Time
	CurrentStart   time.Time
	CurrentEnd     time.Time
	ReferenceCount int64
	CurrentCount   int64
	KSStatistic    float64
	KSPValue       float64
	PSI            float64
	Drifted        bool
	Method         string
}

// AvroSchema returns DriftReportSchema.
func (*DriftReport) AvroSchema() *Schema { return DriftReportSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *DriftReport) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.SensorID)
	dst = appendString(dst, v.AssetID)
	dst = appendString(dst, v.SensorType)
	dst = appendTime(dst, v.ReferenceStart)
	dst = appendTime(dst, v.ReferenceEnd)
	dst = appendTime(dst, v.CurrentStart)
	dst = appendTime(dst, v.CurrentEnd)
	dst = appendLong(dst, v.ReferenceCount)
	dst = appendLong(dst, v.CurrentCount)
	dst = appendDouble(dst, v.KSStatistic)
	dst = appendDouble(dst, v.KSPValue)
	dst = appendDouble(dst, v.PSI)
	dst = appendBool(dst, v.Drifted)
	return appendString(dst, v.Method)
}

func (v *DriftReport) decodeAvro(r *reader) {
	v.SensorID = r.istr()
	v.AssetID = r.istr()
	v.SensorType = r.fstr()
	v.ReferenceStart = r.time()
	v.ReferenceEnd = r.time()
	v.CurrentStart = r.time()
	v.CurrentEnd = r.time()
	v.ReferenceCount = r.long()
	v.CurrentCount = r.long()
	v.KSStatistic = r.double()
	v.KSPValue = r.double()
	v.PSI = r.double()
	v.Drifted = r.boolean()
	v.Method = r.fstr()
}
