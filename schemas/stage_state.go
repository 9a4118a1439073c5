package schemas

// StageState is one entry of a stage's state on its compacted state topic
// (stage_state.avsc): the last record of a Key is the entry. Kafka key:
// Key.
type StageState struct {
	Key   string
	Value []byte // as the stage encodes it
}

// AvroSchema returns StageStateSchema.
func (*StageState) AvroSchema() *Schema { return StageStateSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *StageState) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.Key)
	return appendString(dst, string(v.Value))
}

func (v *StageState) decodeAvro(r *reader) {
	v.Key = r.str()
	v.Value = append([]byte(nil), r.bytes()...)
}
