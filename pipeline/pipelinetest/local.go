package pipelinetest

import (
	"context"
	"testing"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Process hands values to l as one batch of messages of topic, at
// offsets from first on, and returns the records of type O it emitted on
// out. It fails t on any error.
func Process[T, O any, PO interface {
	*O
	schemas.Record
}](t testing.TB, l *pipeline.Local[T], topic string, first int64, values []T, out string) []O {
	t.Helper()
	in := make([]pipeline.Msg[T], len(values))
	for i := range values {
		in[i] = pipeline.Msg[T]{Value: values[i], Topic: topic, Offset: first + int64(i)}
	}
	res, err := l.Process(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := pipeline.Decode[O, PO](context.Background(), res, out)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
