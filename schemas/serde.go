package schemas

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
)

// Wire framing. A Kafka value is one Avro datum behind one of two headers:
//
//	Confluent:      0x00, schema id (4 bytes, big endian)
//	single object:  0xC3 0x01, CRC-64-AVRO fingerprint (8 bytes, little endian)
//
// Encoders write Confluent framing when the Serde has a registry and
// single-object framing otherwise; decoders read both.
const (
	confluentMagic = 0x00
	soeMagic0      = 0xC3
	soeMagic1      = 0x01
	confluentLen   = 5
	soeLen         = 10
)

// Serde knows the writer schemas that values may carry and, when it has a
// registry, the ids they are registered under. It is safe for concurrent
// use; Encoders and Decoders are made from it.
type Serde struct {
	reg      Registry
	strategy SubjectStrategy

	mu   sync.RWMutex
	byFP map[uint64]*Schema // writer schemas known by fingerprint
	byID map[int]*Schema    // writer schemas fetched from the registry
}

// SerdeOpt configures a Serde.
type SerdeOpt func(*Serde)

// WithRegistry makes the Serde register the schemas it encodes with and
// write Confluent framing, and look up unknown ids when decoding.
func WithRegistry(r Registry) SerdeOpt { return func(s *Serde) { s.reg = r } }

// WithSubjectStrategy sets how Subject names subjects (default TopicName).
func WithSubjectStrategy(st SubjectStrategy) SerdeOpt { return func(s *Serde) { s.strategy = st } }

// Subject is the registry subject of values of schema sc on topic, under
// the Serde's subject strategy.
func (s *Serde) Subject(topic string, sc *Schema) string { return s.strategy.Subject(topic, sc) }

// Registry returns the registry the Serde registers with, or nil.
func (s *Serde) Registry() Registry { return s.reg }

// WithWriterSchemas adds writer schemas (older versions of a record, say)
// that single-object-framed values may carry. The embedded schemas are
// always known.
func WithWriterSchemas(ws ...*Schema) SerdeOpt {
	return func(s *Serde) {
		for _, w := range ws {
			s.know(w)
		}
	}
}

// NewSerde returns a Serde that knows every embedded schema.
func NewSerde(opts ...SerdeOpt) *Serde {
	s := &Serde{byFP: make(map[uint64]*Schema), byID: make(map[int]*Schema)}
	for _, sc := range All() {
		s.know(sc)
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// know adds sc to the writer schemas known by fingerprint, under each
// fingerprint writers frame it with.
func (s *Serde) know(sc *Schema) {
	for _, fp := range sc.Fingerprints() {
		s.byFP[fp] = sc
	}
}

// UsesRegistry reports whether encoders write Confluent framing.
func (s *Serde) UsesRegistry() bool { return s.reg != nil }

// Encoder frames records of one schema for one subject. It is immutable
// and safe for concurrent use.
type Encoder struct {
	schema *Schema
	header []byte
}

// NewEncoder returns an Encoder for records of schema sc. With a registry,
// sc is registered under subject (by convention "<topic>-value") and values
// carry its id; otherwise they carry its fingerprint and subject is unused.
func (s *Serde) NewEncoder(ctx context.Context, sc *Schema, subject string) (*Encoder, error) {
	if s.reg == nil {
		h := []byte{soeMagic0, soeMagic1}
		return &Encoder{schema: sc, header: binary.LittleEndian.AppendUint64(h, sc.fingerprint)}, nil
	}
	id, err := s.reg.Register(ctx, subject, sc.text)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.byID[id] = sc
	s.mu.Unlock()
	h := []byte{confluentMagic}
	return &Encoder{schema: sc, header: binary.BigEndian.AppendUint32(h, uint32(id))}, nil
}

// Append appends the framed encoding of v to dst. v must be a record of
// the Encoder's schema.
func (e *Encoder) Append(dst []byte, v Record) ([]byte, error) {
	if v.AvroSchema() != e.schema {
		return dst, fmt.Errorf("%w: encoder for %s given a %s", ErrIncompatible, e.schema.name, v.AvroSchema().name)
	}
	return v.AppendAvro(append(dst, e.header...)), nil
}

// Decoder reads framed values into records. It interns repeated strings,
// so it is not safe for concurrent use: give each goroutine its own.
type Decoder struct {
	s      *Serde
	intern *Interner
	few    *Interner
	lastID int
	lastSc *Schema
	r      reader // reused: a reader passed to an interface method would escape
}

// NewDecoder returns a Decoder backed by s.
func (s *Serde) NewDecoder() *Decoder {
	return &Decoder{s: s, intern: NewInterner(0), few: NewInterner(256), lastID: -1}
}

// Decode reads the framed value b into v. A value written with v's own
// schema is decoded directly; one written with another version of the
// record is resolved to v's schema (fields v's schema added take their
// defaults; fields it dropped are skipped). Strings in v never alias b.
//
// Errors wrap ErrNoFraming, ErrTruncated, ErrMalformed, ErrUnknownSchema,
// ErrIncompatible or ErrRegistry. Only a value framed with a registry id
// not seen before can block, on one registry lookup bounded by ctx.
func (d *Decoder) Decode(ctx context.Context, b []byte, v Record) error {
	want := v.AvroSchema()
	writer, body, err := d.unframe(ctx, b, want)
	if err != nil {
		return fmt.Errorf("decode %s: %w", want.name, err)
	}
	if writer != want {
		if body, err = resolve(writer, want, body); err != nil {
			return fmt.Errorf("decode %s: %w", want.name, err)
		}
	}
	d.r = reader{b: body, intern: d.intern, few: d.few}
	v.decodeAvro(&d.r)
	err = d.r.end()
	d.r.b = nil
	if err != nil {
		return fmt.Errorf("decode %s: %w", want.name, err)
	}
	return nil
}

// DecodeAll reads the records of v's type that body holds back to back in
// Avro binary, without framing, written with v's own schema: a block of
// an Avro object container file. It decodes each into v and calls each,
// which may stop the reading with an error; v is reused, so each copies
// what it keeps. Errors wrap ErrTruncated or ErrMalformed, and name the
// record. No count or length in body makes it allocate more than body's
// size.
func (d *Decoder) DecodeAll(body []byte, v Record, each func() error) error {
	want := v.AvroSchema()
	d.r = reader{b: body, intern: d.intern, few: d.few}
	defer func() { d.r.b = nil }()
	for i := 0; d.r.off < len(body); i++ {
		v.decodeAvro(&d.r)
		if d.r.err != nil {
			return fmt.Errorf("decode %s %d: %w", want.name, i, d.r.err)
		}
		if err := each(); err != nil {
			return err
		}
	}
	return nil
}

// unframe splits b into its writer schema and Avro body.
func (d *Decoder) unframe(ctx context.Context, b []byte, want *Schema) (*Schema, []byte, error) {
	switch {
	case len(b) >= 1 && b[0] == confluentMagic:
		if len(b) < confluentLen {
			return nil, nil, fmt.Errorf("%w: %d-byte Confluent header", ErrTruncated, len(b))
		}
		id := int(binary.BigEndian.Uint32(b[1:5]))
		if id == d.lastID {
			return d.lastSc, b[confluentLen:], nil
		}
		sc, err := d.s.schemaByID(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		d.lastID, d.lastSc = id, sc
		return sc, b[confluentLen:], nil
	case len(b) >= 2 && b[0] == soeMagic0 && b[1] == soeMagic1:
		if len(b) < soeLen {
			return nil, nil, fmt.Errorf("%w: %d-byte single-object header", ErrTruncated, len(b))
		}
		fp := binary.LittleEndian.Uint64(b[2:soeLen])
		if fp == want.fingerprint {
			return want, b[soeLen:], nil
		}
		d.s.mu.RLock()
		sc := d.s.byFP[fp]
		d.s.mu.RUnlock()
		if sc == nil {
			return nil, nil, fmt.Errorf("%w: fingerprint %#016x", ErrUnknownSchema, fp)
		}
		return sc, b[soeLen:], nil
	case len(b) == 0:
		return nil, nil, fmt.Errorf("%w: empty value", ErrTruncated)
	default:
		return nil, nil, fmt.Errorf("%w: first bytes % x", ErrNoFraming, b[:min(len(b), 2)])
	}
}

// schemaByID returns the writer schema registered under id, asking the
// registry once per id. An id whose schema has the fingerprint of a known
// schema maps to that schema, so values written with the reader's own
// schema take the direct path.
func (s *Serde) schemaByID(ctx context.Context, id int) (*Schema, error) {
	s.mu.RLock()
	sc := s.byID[id]
	s.mu.RUnlock()
	if sc != nil {
		return sc, nil
	}
	if s.reg == nil {
		return nil, fmt.Errorf("%w: schema id %d and no registry configured", ErrUnknownSchema, id)
	}
	text, err := s.reg.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	parsed, err := ParseSchema(text)
	if err != nil {
		return nil, fmt.Errorf("%w: schema id %d: %w", ErrIncompatible, id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if known := s.byFP[parsed.fingerprint]; known != nil {
		parsed = known
	} else {
		s.know(parsed)
	}
	s.byID[id] = parsed
	return parsed, nil
}

// resolve rewrites body, written with schema w, as an encoding of schema
// r: goavro decodes it with w, then encodes the result with r, which fills
// fields w lacks from r's defaults and drops fields r lacks.
func resolve(w, r *Schema, body []byte) ([]byte, error) {
	if w.name != r.name {
		return nil, fmt.Errorf("%w: value is a %s", ErrIncompatible, w.name)
	}
	native, rest, err := w.codec.NativeFromBinary(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(rest))
	}
	out, err := r.codec.BinaryFromNative(nil, native)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIncompatible, err)
	}
	return out, nil
}
