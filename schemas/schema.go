// Package schemas defines smaint's records: their Avro schemas (the .avsc
// files beside this one, embedded in the binary), one Go type per record,
// and the Serde that frames them for Kafka.
//
// Each record type encodes and decodes itself with a hand-written codec
// that tests hold byte-for-byte equal to goavro's for the same schema;
// goavro itself is used for what needs a general Avro implementation:
// parsing schemas, fingerprints, and reading values written with an older
// schema.
package schemas

import (
	"embed"
	"fmt"
	"slices"

	"github.com/linkedin/goavro/v2"
)

//go:embed *.avsc
var avscFiles embed.FS

// Schema is one Avro record schema known to this binary. A Schema is
// immutable and safe for concurrent use.
type Schema struct {
	name        string
	text        string
	codec       *goavro.Codec
	canonical   string
	fingerprint uint64   // of the Parsing Canonical Form (fingerprint.go)
	older       []uint64 // the fingerprints other writers frame it with
}

// Name is the schema's full name, e.g. io.smaint.v1.SensorReading.
func (s *Schema) Name() string { return s.name }

// Text is the schema as written in its .avsc file.
func (s *Schema) Text() string { return s.text }

// Fingerprint is the CRC-64-AVRO (Rabin) fingerprint of the schema's
// Parsing Canonical Form, as the Avro specification defines it: what
// single-object encoding writes.
func (s *Schema) Fingerprint() uint64 { return s.fingerprint }

// Fingerprints returns every fingerprint a single-object value of this
// schema may carry: Fingerprint first, then those of the canonical forms
// of goavro (written by smaint before 0.13) and of Python's avro 1.11.
func (s *Schema) Fingerprints() []uint64 { return append([]uint64{s.fingerprint}, s.older...) }

// CanonicalForm returns the schema's Parsing Canonical Form.
func (s *Schema) CanonicalForm() string { return s.canonical }

// ParseSchema compiles an Avro record schema. Use it for writer schemas
// that are not embedded (an older version of a record, say).
func ParseSchema(text string) (*Schema, error) {
	c, err := goavro.NewCodec(text)
	if err != nil {
		return nil, fmt.Errorf("schemas: parse schema: %w", err)
	}
	canonical, err := canonicalForm(text, false)
	if err != nil {
		return nil, err
	}
	python, err := canonicalForm(text, true)
	if err != nil {
		return nil, err
	}
	n := c.TypeName()
	s := &Schema{name: n.String(), text: text, codec: c, canonical: canonical, fingerprint: rabin(canonical)}
	for _, fp := range []uint64{c.Rabin, rabin(python)} {
		if !slices.Contains(s.Fingerprints(), fp) {
			s.older = append(s.older, fp)
		}
	}
	return s, nil
}

func mustEmbedded(file string) *Schema {
	b, err := avscFiles.ReadFile(file)
	if err != nil {
		panic(err)
	}
	s, err := ParseSchema(string(b))
	if err != nil {
		panic(fmt.Sprintf("%s: %v", file, err))
	}
	return s
}

// The embedded schemas, one per record type.
var (
	SensorReadingSchema = mustEmbedded("sensor_reading.avsc")
	FeatureVectorSchema = mustEmbedded("feature_vector.avsc")
	AnomalyScoreSchema  = mustEmbedded("anomaly_score.avsc")
	DriftReportSchema   = mustEmbedded("drift_report.avsc")
	ForecastSchema      = mustEmbedded("forecast.avsc")
	PredictionSchema    = mustEmbedded("prediction.avsc")
	StageStateSchema    = mustEmbedded("stage_state.avsc")
	AlertSchema         = mustEmbedded("alert.avsc")
	RetrainEventSchema  = mustEmbedded("retrain_event.avsc")
	ModelUpdatedSchema  = mustEmbedded("model_updated.avsc")
	MaintenanceSchema   = mustEmbedded("maintenance.avsc")
)

// All lists every embedded schema.
func All() []*Schema {
	return []*Schema{
		SensorReadingSchema, FeatureVectorSchema, AnomalyScoreSchema,
		DriftReportSchema, ForecastSchema, AlertSchema, RetrainEventSchema, ModelUpdatedSchema, PredictionSchema, StageStateSchema,
		MaintenanceSchema,
	}
}

// Record is implemented by pointers to every record type in this package.
// AppendAvro appends the record's Avro binary encoding (no framing) to dst;
// decodeAvro reads one from r.
type Record interface {
	AvroSchema() *Schema
	AppendAvro(dst []byte) []byte
	decodeAvro(r *reader)
}
