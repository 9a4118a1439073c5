package pipeline

import (
	"github.com/smaint/smaint/schemas"
)

// Port is an output of a stage, as the runner sees it. Output is the only
// implementation.
type Port interface {
	Topic() string
	Schema() *schemas.Schema
	bind(enc *schemas.Encoder)
}

// Output is a typed handle on one output topic. A stage creates its
// Outputs, lists them in Outputs(), and emits to them in Process or Tick.
// The runner that runs the stage binds the Output to its encoder before
// the first batch; an Output belongs to one runner.
type Output[T schemas.Record] struct {
	topic string
	enc   *schemas.Encoder
}

// NewOutput returns an Output that writes records of type T (a pointer to
// a schemas record type) to topic.
func NewOutput[T schemas.Record](topic string) *Output[T] {
	return &Output[T]{topic: topic}
}

// Topic returns the output's topic.
func (o *Output[T]) Topic() string { return o.topic }

// Schema returns the schema of T.
func (o *Output[T]) Schema() *schemas.Schema {
	var zero T
	return zero.AvroSchema()
}

func (o *Output[T]) bind(enc *schemas.Encoder) { o.enc = enc }

// Emit queues v for o's topic, keyed by key, as an output of the batch
// that out belongs to. v is encoded before Emit returns, so the caller may
// reuse it.
func (o *Output[T]) Emit(out *Emitter, key string, v T) {
	out.emit(o.topic, -1, key, o.enc, v, "")
}

// EmitAt is Emit to partition p of o's topic, the partition of the input
// v derives from, so that a sensor keeps its partition number from topic
// to topic (see placement.go). Where the topic has no partition p, v goes
// by key.
func (o *Output[T]) EmitAt(out *Emitter, p int32, key string, v T) {
	out.emit(o.topic, p, key, o.enc, v, "")
}

// EmitAtFor is EmitAt for a record that derives from the reading of id
// readingID: the record carries it in its HeaderReadingID header (none
// when readingID is empty), and the stage that reads the record finds it
// in Msg.ReadingID.
func (o *Output[T]) EmitAtFor(out *Emitter, p int32, key string, v T, readingID string) {
	out.emit(o.topic, p, key, o.enc, v, readingID)
}
