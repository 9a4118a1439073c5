package schemas

import "time"

// RetrainEvent asks for one model scope to be retrained (retrain_event.avsc).
// Kafka key: ModelName.
type RetrainEvent struct {
	EventID     string
	ModelName   string
	Scope       string // e.g. sensor_type:vibration or sensor:<id>
	Reason      string
	SensorID    string // the sensor whose drift raised the event, if one did
	KSStatistic float64
	KSPValue    float64
	PSI         float64
	RequestedAt time.Time
}

// AvroSchema returns RetrainEventSchema.
func (*RetrainEvent) AvroSchema() *Schema { return RetrainEventSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *RetrainEvent) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.EventID)
	dst = appendString(dst, v.ModelName)
	dst = appendString(dst, v.Scope)
	dst = appendString(dst, v.Reason)
	dst = appendString(dst, v.SensorID)
	dst = appendDouble(dst, v.KSStatistic)
	dst = appendDouble(dst, v.KSPValue)
	dst = appendDouble(dst, v.PSI)
	return appendTime(dst, v.RequestedAt)
}

func (v *RetrainEvent) decodeAvro(r *reader) {
	v.EventID = r.str()
	v.ModelName = r.fstr()
	v.Scope = r.fstr()
	v.Reason = r.str()
	v.SensorID = r.istr()
	v.KSStatistic = r.double()
	v.KSPValue = r.double()
	v.PSI = r.double()
	v.RequestedAt = r.time()
}
