package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/smaint/smaint/schemas"
)

// Offline runs a topology of stages in process, without Kafka, over input
// pushed to it: for backtests and training on history. Each stage runs in
// a Local. Every record a stage emits goes at once to the stages that read
// its topic, depth first, so when Push returns the input has gone through
// every stage downstream. A call's records go on topic by topic, in the
// order each topic first appears among them, and in emit order within a
// topic. Records are encoded and
// decoded between stages exactly as on Kafka (without a registry), each
// topic is one partition, and offsets count from 0 per topic.
//
// Offline has no dead-letter topic: a record a stage rejects fails the
// call, since results that silently left input out would mislead.
// Topologies must not loop (a stage reading what it, or a stage after it,
// writes). An Offline is used by one goroutine at a time.
type Offline struct {
	nodes []offlineNode
	subs  map[string][]int // topic -> indexes into nodes of its readers
	taps  map[string][]func([]byte) error
	next  map[string]int64 // topic -> offset of its next record
}

type offlineNode struct {
	name  string
	stage offlineStage
}

// offlineStage is an offlineTyped with T hidden.
type offlineStage interface {
	process(ctx context.Context, topic string, first int64, values [][]byte) (Result, error)
	tick(ctx context.Context, now time.Time) (Result, error)
}

// NewOffline returns an Offline of nodes, which run in the order given
// when they read the same topic. Nodes are not shared (see Share): each
// stage runs on its own.
func NewOffline(ctx context.Context, nodes ...Node) (*Offline, error) {
	o := &Offline{subs: map[string][]int{}, taps: map[string][]func([]byte) error{}, next: map[string]int64{}}
	for _, n := range nodes {
		if n.Name == "" || n.stage == nil || len(n.Inputs) == 0 {
			return nil, fmt.Errorf("%w: stage %q needs a name, a stage and an input (use NewNode)", ErrConfig, n.Name)
		}
		st, err := n.stage.offline(ctx, n.Name, nil)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", n.Name, err)
		}
		for _, t := range n.Inputs {
			o.subs[t] = append(o.subs[t], len(o.nodes))
		}
		o.nodes = append(o.nodes, offlineNode{name: n.Name, stage: st})
	}
	return o, nil
}

// Tap calls fn with the value of every record emitted to topic, in emit
// order, before the stages that read it get it. value is valid only
// during the call. An error from fn fails the call that emitted the
// record.
func (o *Offline) Tap(topic string, fn func(value []byte) error) {
	o.taps[topic] = append(o.taps[topic], fn)
}

// Observe taps topic for records of type T (a schemas record type),
// decoded.
func Observe[T any, PT interface {
	*T
	schemas.Record
}](o *Offline, topic string, fn func(*T)) {
	dec := schemas.NewSerde().NewDecoder()
	o.Tap(topic, func(b []byte) error {
		var v T
		if err := dec.Decode(context.Background(), b, PT(&v)); err != nil {
			return fmt.Errorf("offline: record of %s: %w", topic, err)
		}
		fn(&v)
		return nil
	})
}

// Push hands vs, as the next records of topic, to every stage that reads
// topic, and what they emit on downstream. Every stage reading topic must
// take T.
func Push[T any](ctx context.Context, o *Offline, topic string, vs []T) error {
	first := o.advance(topic, len(vs))
	for _, i := range o.subs[topic] {
		n := &o.nodes[i]
		st, ok := n.stage.(*offlineTyped[T])
		if !ok {
			return fmt.Errorf("%w: offline: stage %s does not read %T", ErrConfig, n.name, *new(T))
		}
		res, err := st.processValues(ctx, topic, first, vs)
		if err == nil {
			err = o.route(ctx, res)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Tick calls Tick at now on every stage that has one, in order, and hands
// what they emit downstream: closing the windows still open at the end of
// the input, say.
func (o *Offline) Tick(ctx context.Context, now time.Time) error {
	for i := range o.nodes {
		res, err := o.nodes[i].stage.tick(ctx, now)
		if err == ErrNotTicker {
			continue
		}
		if err == nil {
			err = o.route(ctx, res)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", o.nodes[i].name, err)
		}
	}
	return nil
}

// advance reserves n offsets of topic and returns the first.
func (o *Offline) advance(topic string, n int) int64 {
	first := o.next[topic]
	o.next[topic] = first + int64(n)
	return first
}

// route hands the records of res, topic by topic in the order each first
// appears, to the taps and the stages that read them.
func (o *Offline) route(ctx context.Context, res Result) error {
	if len(res.Records) == 0 {
		return nil
	}
	var order []string
	byTopic := map[string][][]byte{}
	for _, e := range res.Records {
		if _, ok := byTopic[e.Topic]; !ok {
			order = append(order, e.Topic)
		}
		byTopic[e.Topic] = append(byTopic[e.Topic], e.Value)
	}
	for _, topic := range order {
		values := byTopic[topic]
		for _, fn := range o.taps[topic] {
			for _, v := range values {
				if err := fn(v); err != nil {
					return err
				}
			}
		}
		first := o.advance(topic, len(values))
		for _, i := range o.subs[topic] {
			res, err := o.nodes[i].stage.process(ctx, topic, first, values)
			if err == nil {
				err = o.route(ctx, res)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// offlineTyped runs one stage of an Offline.
type offlineTyped[T any] struct {
	name   string
	loc    *Local[T]
	decode DecodeFunc[T]
	dec    *schemas.Decoder
	msgs   []Msg[T]
}

func (t *typedStage[T]) offline(ctx context.Context, name string, serde *schemas.Serde) (offlineStage, error) {
	decode, err := decoderFor[T](name, t.decode)
	if err != nil {
		return nil, err
	}
	loc, err := NewLocal(ctx, name, t.stage, serde)
	if err != nil {
		return nil, err
	}
	return &offlineTyped[T]{name: name, loc: loc, decode: decode, dec: schemas.NewSerde().NewDecoder()}, nil
}

func (s *offlineTyped[T]) process(ctx context.Context, topic string, first int64, values [][]byte) (Result, error) {
	s.msgs = s.msgs[:0]
	for i, b := range values {
		s.msgs = append(s.msgs, Msg[T]{Topic: topic, Offset: first + int64(i), Size: len(b)})
		if err := s.decode(ctx, s.dec, topic, b, &s.msgs[i].Value); err != nil {
			return Result{}, fmt.Errorf("%s: record %d of %s: %w", s.name, first+int64(i), topic, err)
		}
	}
	return s.run(ctx, s.msgs)
}

func (s *offlineTyped[T]) processValues(ctx context.Context, topic string, first int64, vs []T) (Result, error) {
	s.msgs = s.msgs[:0]
	for i, v := range vs {
		s.msgs = append(s.msgs, Msg[T]{Value: v, Topic: topic, Offset: first + int64(i)})
	}
	return s.run(ctx, s.msgs)
}

func (s *offlineTyped[T]) run(ctx context.Context, in []Msg[T]) (Result, error) {
	res, err := s.loc.Process(ctx, in)
	if err == nil && len(res.Rejected) > 0 {
		err = fmt.Errorf("%s stage rejected %d records; first: %w", s.name, len(res.Rejected), res.Rejected[0].Err)
	}
	return res, err
}

func (s *offlineTyped[T]) tick(ctx context.Context, now time.Time) (Result, error) {
	return s.loc.Tick(ctx, now)
}
