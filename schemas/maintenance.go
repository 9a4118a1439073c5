package schemas

import "time"

// Maintenance is work done on an asset, recorded by its operators
// (maintenance.avsc). Kafka key: AssetID.
type Maintenance struct {
	AssetID     string
	PerformedAt time.Time // event time: the clock of the asset's readings
	Action      string    // e.g. repair, replacement, inspection
	// Renews is set when the work renewed the asset (a repair, a
	// replacement): its remaining-life run ends at PerformedAt.
	Renews bool
	Note   string
}

// AvroSchema returns MaintenanceSchema.
func (*Maintenance) AvroSchema() *Schema { return MaintenanceSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *Maintenance) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.AssetID)
	dst = appendTime(dst, v.PerformedAt)
	dst = appendString(dst, v.Action)
	dst = appendBool(dst, v.Renews)
	return appendString(dst, v.Note)
}

func (v *Maintenance) decodeAvro(r *reader) {
	v.AssetID = r.istr()
	v.PerformedAt = r.time()
	v.Action = r.fstr()
	v.Renews = r.boolean()
	v.Note = r.str()
}
