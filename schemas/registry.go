package schemas

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/sr"
)

// Registry is the part of a Confluent-compatible schema registry that the
// Serde needs. Implementations must be safe for concurrent use.
type Registry interface {
	// Register returns the id of schema under subject, registering it
	// first if the subject does not hold it yet.
	Register(ctx context.Context, subject, schema string) (int, error)
	// SchemaByID returns the text of the schema with the given id. An id
	// the registry does not know gives an error wrapping ErrUnknownSchema.
	SchemaByID(ctx context.Context, id int) (string, error)
}

// SRRegistry is a Registry backed by a franz-go sr.Client: a real Confluent
// Schema Registry, Redpanda, or franz-go's srfake.
type SRRegistry struct{ cl *sr.Client }

// NewSRRegistry returns a Registry that talks to the registry cl points at.
func NewSRRegistry(cl *sr.Client) *SRRegistry { return &SRRegistry{cl: cl} }

// Register implements Registry.
func (r *SRRegistry) Register(ctx context.Context, subject, schema string) (int, error) {
	ss, err := r.cl.CreateSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("%w: register %s: %w", ErrRegistry, subject, err)
	}
	return ss.ID, nil
}

// SchemaByID implements Registry.
func (r *SRRegistry) SchemaByID(ctx context.Context, id int) (string, error) {
	s, err := r.cl.SchemaByID(ctx, id)
	if err != nil {
		var re *sr.ResponseError
		if errors.As(err, &re) && re.SchemaError() == sr.ErrSchemaNotFound {
			return "", fmt.Errorf("%w: registry has no schema id %d", ErrUnknownSchema, id)
		}
		return "", fmt.Errorf("%w: schema id %d: %w", ErrRegistry, id, err)
	}
	if s.Type != sr.TypeAvro {
		return "", fmt.Errorf("%w: schema id %d is %s, not Avro", ErrIncompatible, id, s.Type)
	}
	return s.Schema, nil
}

// Compatibility is the compatibility level smaint sets on each subject it
// registers: FULL_TRANSITIVE, so that every version of a record reads
// every other. A producer may then add or remove only fields that have a
// default, and smaint keeps reading what it writes; a change that
// BACKWARD alone allows (removing a field without a default, which
// smaint's reader needs) is refused by the registry instead of
// dead-lettering every reading written with it.
const Compatibility = "FULL_TRANSITIVE"

// Registration is a subject as Register left it.
type Registration struct {
	Subject       string
	ID, Version   int
	Compatibility string
}

// Prepare sets subject's compatibility level to Compatibility, then
// registers schema under it (a no-op if the subject holds it already).
// The registry refuses a schema its level does not allow.
func (r *SRRegistry) Prepare(ctx context.Context, subject, schema string) (Registration, error) {
	var level sr.CompatibilityLevel
	if err := level.UnmarshalText([]byte(Compatibility)); err != nil {
		return Registration{}, err
	}
	for _, res := range r.cl.SetCompatibility(ctx, sr.SetCompatibility{Level: level}, subject) {
		if res.Err != nil {
			return Registration{}, fmt.Errorf("%w: set %s's compatibility to %s: %w", ErrRegistry, subject, Compatibility, res.Err)
		}
	}
	ss, err := r.cl.CreateSchema(ctx, subject, sr.Schema{Schema: schema, Type: sr.TypeAvro})
	if err != nil {
		return Registration{}, fmt.Errorf("%w: register %s: %w", ErrRegistry, subject, err)
	}
	return Registration{Subject: subject, ID: ss.ID, Version: ss.Version, Compatibility: Compatibility}, nil
}
