package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/schemas"
)

// Local drives a stage in-process, without Kafka: for unit tests,
// benchmarks and backtests. Outputs are encoded exactly as a Runner would
// encode them and handed back with the rejected inputs. A Local is used by
// one goroutine at a time.
type Local[T any] struct {
	stage Stage[T]
	em    Emitter
	raw   []*kgo.Record
	rawV  []kgo.Record
}

// Emitted is one record a stage emitted through a Local.
type Emitted struct {
	Topic string
	Key   []byte // valid until the next call on the Local, as Value
	Value []byte // framed Avro
	// ReadingID is its HeaderReadingID header: the reading it derives
	// from ("" without one; see Output.EmitAtFor).
	ReadingID string
}

// Rejected is one input a stage sent to the dead-letter topic.
type Rejected struct {
	Index int    // of the input in the batch
	Kind  string // one of the Kind* constants
	Err   error
}

// Result is what one Process or Tick call produced, in emit order.
type Result struct {
	Records  []Emitted
	Rejected []Rejected
}

// ErrNotTicker is returned by Local.Tick for a stage without Tick.
var ErrNotTicker = errors.New("stage is not a Ticker")

// NewLocal binds stage's outputs to encoders of serde (nil: a Serde
// without registry) and returns a Local for it, named name in dead
// letters.
func NewLocal[T any](ctx context.Context, name string, stage Stage[T], serde *schemas.Serde) (*Local[T], error) {
	if serde == nil {
		serde = schemas.NewSerde()
	}
	if o, ok := stage.(Outputter); ok {
		for _, p := range o.Outputs() {
			enc, err := serde.NewEncoder(ctx, p.Schema(), serde.Subject(p.Topic(), p.Schema()))
			if err != nil {
				return nil, fmt.Errorf("output %s: %w", p.Topic(), err)
			}
			p.bind(enc)
		}
	}
	l := &Local[T]{stage: stage}
	l.em.stage, l.em.dlqTopic, l.em.now, l.em.maxRecord = name, "dlq", SystemClock{}.Now, DefaultMaxRecordBytes
	return l, nil
}

// Process calls the stage's Process on in, behind the same panic backstop
// as a Runner, and returns what it emitted. The Msgs' Topic, Partition and
// Offset are what dead letters would name as their source.
func (l *Local[T]) Process(ctx context.Context, in []Msg[T]) (Result, error) {
	l.rawV = l.rawV[:0]
	for i := range in {
		l.rawV = append(l.rawV, kgo.Record{Topic: in[i].Topic, Partition: in[i].Partition, Offset: in[i].Offset})
	}
	l.raw = l.raw[:0]
	for i := range l.rawV {
		l.raw = append(l.raw, &l.rawV[i])
	}
	l.em.reset(l.raw)
	err := l.guard(len(in), func() error { return l.stage.Process(ctx, in, &l.em) })
	if err == nil {
		err = l.em.encErr
	}
	if err != nil {
		return Result{}, err
	}
	return l.result(), nil
}

// Tick calls the stage's Tick at now.
func (l *Local[T]) Tick(ctx context.Context, now time.Time) (Result, error) {
	t, ok := l.stage.(Ticker)
	if !ok {
		return Result{}, ErrNotTicker
	}
	l.em.reset(nil)
	if err := l.guard(0, func() error { t.Tick(ctx, now, &l.em); return nil }); err != nil {
		return Result{}, err
	}
	return l.result(), l.em.encErr
}

func (l *Local[T]) guard(n int, fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			perr := l.em.deadLetterAll(emitMark{}, n, p)
			if n == 0 {
				err = perr
			}
		}
	}()
	return fn()
}

func (l *Local[T]) result() Result {
	res := Result{Rejected: l.em.rejected}
	for i := range l.em.recs {
		if r := &l.em.recs[i]; r.Topic != l.em.dlqTopic {
			em := Emitted{Topic: r.Topic, Key: r.Key, Value: r.Value}
			for _, h := range r.Headers {
				if h.Key == HeaderReadingID {
					em.ReadingID = string(h.Value)
				}
			}
			res.Records = append(res.Records, em)
		}
	}
	return res
}

// Decode decodes the records of res emitted to topic into values of T, a
// schemas record type.
func Decode[T any, PT interface {
	*T
	schemas.Record
}](ctx context.Context, res Result, topic string) ([]T, error) {
	d := schemas.NewSerde().NewDecoder()
	var out []T
	for _, e := range res.Records {
		if e.Topic != topic {
			continue
		}
		var v T
		if err := d.Decode(ctx, e.Value, PT(&v)); err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}
