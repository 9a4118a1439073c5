package schemas

import "time"

// SensorReading is one measurement from one sensor (sensor_reading.avsc).
// Kafka key: SensorID.
type SensorReading struct {
	ReadingID  string // UUID assigned by the producer; the dedupe key
	SensorID   string
	AssetID    string
	SensorType string // temperature, vibration, pressure, current, acoustic, humidity, ...
	TS         time.Time
	Value      float64
	Unit       string
	Quality    int32 // 0-100
	Tags       map[string]string
}

// AvroSchema returns SensorReadingSchema.
func (*SensorReading) AvroSchema() *Schema { return SensorReadingSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *SensorReading) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.ReadingID)
	dst = appendString(dst, v.SensorID)
	dst = appendString(dst, v.AssetID)
	dst = appendString(dst, v.SensorType)
	dst = appendTime(dst, v.TS)
	dst = appendDouble(dst, v.Value)
	dst = appendString(dst, v.Unit)
	dst = appendInt(dst, v.Quality)
	return appendStringMap(dst, v.Tags)
}

func (v *SensorReading) decodeAvro(r *reader) {
	v.ReadingID = r.str()
	v.SensorID = r.istr()
	v.AssetID = r.istr()
	v.SensorType = r.fstr()
	v.TS = r.time()
	v.Value = r.double()
	v.Unit = r.fstr()
	v.Quality = r.int()
	v.Tags = r.stringMap()
}
