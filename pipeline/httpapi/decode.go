package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"time"

	"github.com/smaint/smaint/schemas"
)

// The body formats POST /v1/readings takes, by Content-Type.
const (
	formatJSON = "json" // application/json: one reading, an array, or {"readings": [...]}
	formatAvro = "avro" // an Avro object container file of SensorReading records
)

// errUnsupported: the Content-Type is none of the formats.
var errUnsupported = errors.New("unsupported Content-Type")

// formatOf returns the format a Content-Type names.
func formatOf(contentType string) (string, error) {
	if contentType == "" {
		return formatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("%w: %q", errUnsupported, contentType)
	}
	switch mt {
	case "application/json":
		return formatJSON, nil
	case "application/avro", "avro/binary", "application/vnd.apache.avro.file":
		return formatAvro, nil
	}
	return "", fmt.Errorf("%w: %q (want application/json, or application/avro for an Avro object container file)", errUnsupported, mt)
}

// recordError is what was wrong with one reading of a body.
type recordError struct {
	Index     int    `json:"index"`
	ReadingID string `json:"reading_id,omitempty"`
	Error     string `json:"error"`
}

// errMalformed: the body as a whole cannot be read.
var errMalformed = errors.New("malformed body")

// decodeJSON reads body's readings. A body that is not JSON, or not one
// of the three shapes, is errMalformed; a reading that is JSON but not a
// reading is a recordError at its index, and its slot in the result is
// left zero.
func decodeJSON(body []byte) ([]schemas.SensorReading, []recordError, error) {
	body = bytes.TrimSpace(body)
	if rs, bad, ok := decodeBatch(body); ok {
		return rs, bad, nil
	}
	var raws []json.RawMessage
	switch {
	case len(body) == 0:
		return nil, nil, fmt.Errorf("%w: empty body", errMalformed)
	case body[0] == '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
	case body[0] == '{':
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
		}
		if batch, ok := top["readings"]; ok && len(top) == 1 {
			if err := json.Unmarshal(batch, &raws); err != nil {
				return nil, nil, fmt.Errorf("%w: readings: %v", errMalformed, err)
			}
		} else {
			raws = []json.RawMessage{body}
		}
	default:
		return nil, nil, fmt.Errorf("%w: want a JSON object or array", errMalformed)
	}
	out := make([]schemas.SensorReading, len(raws))
	var bad []recordError
	for i, raw := range raws {
		if err := readJSON(raw, &out[i]); err != nil {
			bad = append(bad, recordError{Index: i, Error: err.Error()})
		}
	}
	return out, bad, nil
}

// decodeBatch is the fast path of a batch, an array or {"readings": [...]}:
// one pass of the decoder over the whole body. It reports false when the
// body is anything else, or when any reading fails to decode, for the
// slow path to find which.
func decodeBatch(body []byte) ([]schemas.SensorReading, []recordError, bool) {
	var js []jsonReading
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	switch {
	case len(body) > 0 && body[0] == '[':
		if d.Decode(&js) != nil {
			return nil, nil, false
		}
	case bytes.HasPrefix(body, []byte(`{"readings"`)):
		var top struct {
			Readings []jsonReading `json:"readings"`
		}
		if d.Decode(&top) != nil {
			return nil, nil, false
		}
		js = top.Readings
	default:
		return nil, nil, false
	}
	if d.More() {
		return nil, nil, false
	}
	out := make([]schemas.SensorReading, len(js))
	var bad []recordError
	for i := range js {
		if err := js[i].reading(&out[i]); err != nil {
			bad = append(bad, recordError{Index: i, Error: err.Error()})
		}
	}
	return out, bad, true
}

// jsonReading is a reading as JSON carries it. Pointers tell a missing
// field from a zero one.
type jsonReading struct {
	ReadingID  string            `json:"reading_id"`
	SensorID   string            `json:"sensor_id"`
	AssetID    string            `json:"asset_id"`
	SensorType string            `json:"sensor_type"`
	TS         *time.Time        `json:"ts"`
	Value      *float64          `json:"value"`
	Unit       string            `json:"unit"`
	Quality    *int32            `json:"quality"`
	Tags       map[string]string `json:"tags"`
}

func readJSON(raw []byte, r *schemas.SensorReading) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	var j jsonReading
	if err := d.Decode(&j); err != nil {
		return fmt.Errorf("not a reading: %v", err)
	}
	return j.reading(r)
}

// reading checks j has what a reading must and copies it to r.
func (j *jsonReading) reading(r *schemas.SensorReading) error {
	switch {
	case j.TS == nil:
		return errors.New("ts is missing (want RFC 3339, e.g. 2026-11-30T10:00:00.5Z)")
	case j.Value == nil:
		return errors.New("value is missing")
	}
	*r = schemas.SensorReading{ReadingID: j.ReadingID, SensorID: j.SensorID, AssetID: j.AssetID, SensorType: j.SensorType,
		TS: j.TS.UTC(), Value: *j.Value, Unit: j.Unit, Quality: 100, Tags: j.Tags}
	if j.Quality != nil {
		r.Quality = *j.Quality
	}
	return nil
}

// decodeAvro reads the readings of an Avro object container file (see
// readOCF), whose blocks may inflate to maxInflated bytes in all. A file
// that cannot be read is errMalformed; there are no per-record errors
// short of Check's, since every record decodes or none does.
func decodeAvro(body []byte, maxInflated int64) ([]schemas.SensorReading, []recordError, error) {
	rs, err := readOCF(body, maxInflated)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return rs, nil, nil
}
