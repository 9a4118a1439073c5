package schemas

import "time"

// ModelUpdated announces a new model artifact in the model store
// (model_updated.avsc). Kafka key: ModelName.
type ModelUpdated struct {
	ModelName  string
	Version    string
	URI        string // file:// or s3://
	SHA256     string // hex digest of the artifact; loaders verify it
	TrainedAt  time.Time
	TrainFrom  time.Time
	TrainUntil time.Time
	Metrics    map[string]float64
}

// AvroSchema returns ModelUpdatedSchema.
func (*ModelUpdated) AvroSchema() *Schema { return ModelUpdatedSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *ModelUpdated) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.ModelName)
	dst = appendString(dst, v.Version)
	dst = appendString(dst, v.URI)
	dst = appendString(dst, v.SHA256)
	dst = appendTime(dst, v.TrainedAt)
	dst = appendTime(dst, v.TrainFrom)
	dst = appendTime(dst, v.TrainUntil)
	return appendDoubleMap(dst, v.Metrics)
}

func (v *ModelUpdated) decodeAvro(r *reader) {
	v.ModelName = r.fstr()
	v.Version = r.str()
	v.URI = r.str()
	v.SHA256 = r.str()
	v.TrainedAt = r.time()
	v.TrainFrom = r.time()
	v.TrainUntil = r.time()
	v.Metrics = r.doubleMap()
}
