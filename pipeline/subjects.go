package pipeline

import (
	"context"
	"fmt"

	"github.com/smaint/smaint/schemas"
)

// Preparer is a registry that can set a subject's compatibility level and
// register a schema under it (schemas.SRRegistry).
type Preparer interface {
	Prepare(ctx context.Context, subject, schema string) (schemas.Registration, error)
}

// RegisterSubjects registers the schema of every topic of t that holds
// Avro records, the readings topic producers write included, under the
// subjects serde's strategy names, each at schemas.Compatibility. A
// subject shared by several topics (a record-name strategy) is registered
// once. It fails if serde has no registry or the registry refuses a
// schema: then a producer or a stage would be refused too.
func RegisterSubjects(ctx context.Context, serde *schemas.Serde, t Topics) ([]schemas.Registration, error) {
	reg, ok := serde.Registry().(Preparer)
	if !ok {
		return nil, fmt.Errorf("%w: no schema registry (give --registry)", ErrConfig)
	}
	var out []schemas.Registration
	done := map[string]bool{}
	for _, tr := range t.Records() {
		subject := serde.Subject(tr.Topic, tr.Schema)
		if done[subject] {
			continue
		}
		done[subject] = true
		r, err := reg.Prepare(ctx, subject, tr.Schema.Text())
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}
