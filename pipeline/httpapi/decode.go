package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// errMalformed: the body as a whole cannot be read. errTooMany: it holds
// more readings than a request may.
var (
	errMalformed = errors.New("malformed body")
	errTooMany   = errors.New("too many readings")
)

// decodeJSON reads body's readings: one reading, an array of them, or
// {"readings": [...]}. It decodes them one at a time, and stops with
// errTooMany at reading max+1, so memory is bounded by max readings
// whatever the body holds. A body that is not JSON, not one of the three
// shapes, or holds anything after it, is errMalformed; a reading that is
// JSON but not a reading is a recordError at its index, and its slot in
// the result is left zero.
func decodeJSON(body []byte, max int) ([]schemas.SensorReading, []recordError, error) {
	body = bytes.TrimSpace(body)
	d := jsonDecoder(body)
	switch {
	case len(body) == 0:
		return nil, nil, fmt.Errorf("%w: empty body", errMalformed)
	case body[0] == '[':
		rs, bad, err := decodeArray(d, max)
		if err != nil {
			return nil, nil, err
		}
		return rs, bad, atEnd(d)
	case body[0] != '{':
		return nil, nil, fmt.Errorf("%w: want a JSON object or array", errMalformed)
	}
	// {"readings": [...]} is a batch; any other object is one reading.
	_, _ = d.Token()
	if key, err := d.Token(); err != nil || key != "readings" {
		rs, bad := make([]schemas.SensorReading, 1), []recordError(nil)
		d = jsonDecoder(body)
		if err := decodeReading(d, &rs[0]); isMalformed(err) {
			return nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
		} else if err != nil {
			bad = append(bad, recordError{Index: 0, Error: err.Error()})
		}
		return rs, bad, atEnd(d)
	}
	rs, bad, err := decodeArray(d, max)
	if err != nil {
		return nil, nil, err
	}
	if end, err := d.Token(); err != nil || end != json.Delim('}') {
		return nil, nil, fmt.Errorf("%w: a batch object holds \"readings\" and nothing else", errMalformed)
	}
	return rs, bad, atEnd(d)
}

func jsonDecoder(body []byte) *json.Decoder {
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	return d
}

// decodeArray reads an array of readings from d.
func decodeArray(d *json.Decoder, max int) ([]schemas.SensorReading, []recordError, error) {
	if open, err := d.Token(); err != nil || open != json.Delim('[') {
		return nil, nil, fmt.Errorf("%w: want an array of readings", errMalformed)
	}
	var (
		rs  []schemas.SensorReading
		bad []recordError
	)
	for d.More() {
		if len(rs) == max {
			return nil, nil, fmt.Errorf("%w: more than %d", errTooMany, max)
		}
		rs = append(rs, schemas.SensorReading{})
		if err := decodeReading(d, &rs[len(rs)-1]); isMalformed(err) {
			return nil, nil, fmt.Errorf("%w: reading %d: %v", errMalformed, len(rs)-1, err)
		} else if err != nil {
			bad = append(bad, recordError{Index: len(rs) - 1, Error: err.Error()})
		}
	}
	if _, err := d.Token(); err != nil { // the closing ]
		return nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return rs, bad, nil
}

// decodeReading reads the next value of d into r. The decoder reads a
// whole value before it maps it, so after any error but a syntax error
// (isMalformed) d stands at the next value.
func decodeReading(d *json.Decoder, r *schemas.SensorReading) error {
	var j jsonReading
	if err := d.Decode(&j); err != nil {
		if isMalformed(err) {
			return err
		}
		return fmt.Errorf("not a reading: %v", err)
	}
	return j.reading(r)
}

// isMalformed reports whether err leaves the JSON stream unreadable.
func isMalformed(err error) bool {
	var syntax *json.SyntaxError
	return errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// atEnd is nil when d has nothing left but white space.
func atEnd(d *json.Decoder) error {
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("%w: something follows the readings", errMalformed)
	}
	return nil
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

// decodeAvro reads the readings of an Avro object container file of
// SensorReading records (see schemas.Decoder.ReadContainer): at most max,
// whose blocks may inflate to maxInflated bytes in all. More readings are
// errTooMany; a file that cannot be read is errMalformed. There are no
// per-record errors short of Check's: every record decodes or none does.
func decodeAvro(body []byte, max int, maxInflated int64) ([]schemas.SensorReading, []recordError, error) {
	var (
		out []schemas.SensorReading
		r   schemas.SensorReading
	)
	err := schemas.NewSerde().NewDecoder().ReadContainer(body, &r, max, maxInflated, func() error {
		out = append(out, r)
		return nil
	})
	switch {
	case errors.Is(err, schemas.ErrTooMany):
		return nil, nil, fmt.Errorf("%w: %v", errTooMany, err)
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return out, nil, nil
}
