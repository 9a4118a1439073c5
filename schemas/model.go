package schemas

import "time"

// ModelUpdated is a decision about a model version (model_updated.avsc):
// one to score with from now on (Action published, promoted or
// rolled_back), one to score with beside it (shadow), or a retrain that
// ended without one (rejected, skipped). Kafka key: ModelName.
type ModelUpdated struct {
	ModelName  string
	Version    string
	URI        string // file:// or s3://
	SHA256     string // hex digest of the artifact; loaders verify it
	TrainedAt  time.Time
	TrainFrom  time.Time
	TrainUntil time.Time
	Metrics    map[string]float64
	Action     string // one of the Model* actions; "" reads as published
	Reason     string
}

// The actions of a ModelUpdated.
const (
	ModelPublished  = "published"
	ModelShadow     = "shadow"
	ModelPromoted   = "promoted"
	ModelRolledBack = "rolled_back"
	ModelRejected   = "rejected"
	ModelSkipped    = "skipped"
)

// Live reports whether u makes its version the one to score with.
func (u *ModelUpdated) Live() bool {
	switch u.Action {
	case "", ModelPublished, ModelPromoted, ModelRolledBack:
		return true
	}
	return false
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
	dst = appendDoubleMap(dst, v.Metrics)
	dst = appendString(dst, v.Action)
	return appendString(dst, v.Reason)
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
	v.Action = r.str()
	v.Reason = r.str()
}
