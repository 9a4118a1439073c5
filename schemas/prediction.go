package schemas

import "time"

// Prediction is a supervised model's verdict on one asset at one window
// (prediction.avsc): the probability of each failure label, or the
// remaining useful life, from the windows of the asset's sensors that
// start at WindowStart. (AssetID,
// Model, WindowStart) identifies it. Kafka key: AssetID.
type Prediction struct {
	AssetID       string
	WindowStart   time.Time
	WindowEnd     time.Time
	Model         string // e.g. gbdt-failure
	ModelVersion  string
	Probabilities map[string]float64 // label -> probability
	Threshold     float64            // a label is predicted at this probability or over
	Inputs        map[string]float64 // the model's inputs as scored
	Drivers       map[string]float64 // feature -> contribution to the top label's log-odds, or to the remaining life
	// RemainingLife is a remaining-life model's prediction, in its time
	// unit (window lengths in the stream), with its 80% interval; -1 for
	// a classifier's.
	RemainingLife, RemainingLower, RemainingUpper float64
}

// Predicted returns the labels at or over the threshold, in name order.
func (v *Prediction) Predicted() []string {
	var out []string
	for _, l := range sortedKeys(nil, v.Probabilities) {
		if v.Probabilities[l] >= v.Threshold {
			out = append(out, l)
		}
	}
	return out
}

// AvroSchema returns PredictionSchema.
func (*Prediction) AvroSchema() *Schema { return PredictionSchema }

// AppendAvro appends the Avro binary encoding of v to dst.
func (v *Prediction) AppendAvro(dst []byte) []byte {
	dst = appendString(dst, v.AssetID)
	dst = appendTime(dst, v.WindowStart)
	dst = appendTime(dst, v.WindowEnd)
	dst = appendString(dst, v.Model)
	dst = appendString(dst, v.ModelVersion)
	dst = appendDoubleMap(dst, v.Probabilities)
	dst = appendDouble(dst, v.Threshold)
	dst = appendDoubleMap(dst, v.Inputs)
	dst = appendDoubleMap(dst, v.Drivers)
	dst = appendDouble(dst, v.RemainingLife)
	dst = appendDouble(dst, v.RemainingLower)
	return appendDouble(dst, v.RemainingUpper)
}

func (v *Prediction) decodeAvro(r *reader) {
	v.AssetID = r.istr()
	v.WindowStart = r.time()
	v.WindowEnd = r.time()
	v.Model = r.fstr()
	v.ModelVersion = r.fstr()
	v.Probabilities = r.doubleMap()
	v.Threshold = r.double()
	v.Inputs = r.doubleMap()
	v.Drivers = r.doubleMap()
	v.RemainingLife = r.double()
	v.RemainingLower = r.double()
	v.RemainingUpper = r.double()
}
