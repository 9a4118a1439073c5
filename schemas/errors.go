package schemas

import "errors"

// Decoding errors. Every error a Decoder returns wraps exactly one of these,
// so callers (the pipeline's dead-letter routing, tests) can tell them apart
// with errors.Is.
var (
	// ErrNoFraming: the value starts with neither the Confluent magic byte
	// (0x00) nor the Avro single-object marker (0xC3 0x01).
	ErrNoFraming = errors.New("schemas: value is not Confluent- or single-object-framed Avro")
	// ErrTruncated: the value ends before the record does.
	ErrTruncated = errors.New("schemas: truncated value")
	// ErrMalformed: the bytes are not a valid encoding of the schema.
	ErrMalformed = errors.New("schemas: malformed value")
	// ErrUnknownSchema: the writer schema id or fingerprint is not known
	// locally and the registry (if any) does not know it either.
	ErrUnknownSchema = errors.New("schemas: unknown writer schema")
	// ErrIncompatible: the writer schema is known but cannot be read as the
	// reader's record (another record type, or a field without a default).
	ErrIncompatible = errors.New("schemas: writer schema incompatible with reader")
	// ErrRegistry: the schema registry could not be reached or refused a
	// request. Unlike the errors above this one may be transient.
	ErrRegistry = errors.New("schemas: schema registry")
)
