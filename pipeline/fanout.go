package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"
)

// Part is one stage of a Fanout, with the name its dead letters, logs and
// checkpoint carry.
type Part[T any] struct {
	Name  string
	Stage Stage[T]
}

// Fanout runs several stages that read the same input as one: one
// consumer group, one fetch and one decode of every record for all of
// them, instead of one each. It calls every part's Process on every batch,
// in order, with the same in, which the parts must not modify.
//
// Each part keeps its own failures. A part's dead letters carry its name
// (HeaderStage). A part whose Process returns an error has that call's
// output discarded and is retried alone, with the runner's default
// backoff (RetryBackoff does not reach inside a Fanout), until it succeeds
// or ctx ends: the parts before it are not called again, so a part that
// never fails never sees a batch twice. A part that panics outside its
// per-record guard has its output discarded and every input
// dead-lettered under its name; the other parts go on.
//
// The optional hooks combine: Outputs is every part's outputs; Tick calls
// each Ticker part about every its own TickEvery; Retained is, per
// partition, the smallest offset any part retains; Revoked goes to every
// Revoker; the checkpoint of a partition holds every Checkpointer part's,
// by name, in one JSON object. A Fanout's group is not its parts' groups:
// running parts together or apart starts from different committed offsets.
type Fanout[T any] struct {
	parts    []Part[T]
	log      *slog.Logger
	lastTick []time.Time
}

// NewFanout returns a Fanout of parts, which must have distinct, non-empty
// names. log (nil: discard) gets the retries and panics of parts.
func NewFanout[T any](log *slog.Logger, parts ...Part[T]) (*Fanout[T], error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: fanout of no stages", ErrConfig)
	}
	seen := map[string]bool{}
	for _, p := range parts {
		if p.Name == "" || seen[p.Name] || p.Stage == nil {
			return nil, fmt.Errorf("%w: fanout part %q: every part needs a stage and a name of its own", ErrConfig, p.Name)
		}
		seen[p.Name] = true
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fanout[T]{parts: slices.Clone(parts), log: log, lastTick: make([]time.Time, len(parts))}, nil
}

// Process implements Stage. It returns an error only when ctx ended while
// a part was failing; the batch is then abandoned by the runner.
func (f *Fanout[T]) Process(ctx context.Context, in []Msg[T], out *Emitter) error {
	name := out.stage
	defer func() { out.stage = name }()
	for _, p := range f.parts {
		out.stage = p.Name
		backoff := defaultRetryMin
		for {
			err := f.processPart(ctx, p, in, out)
			if err == nil {
				break
			}
			f.log.Warn("process failed; retrying this part of the batch", "part", p.Name, "records", len(in), "backoff", backoff, "err", err)
			if !sleep(ctx, backoff) {
				return fmt.Errorf("%s: %w", p.Name, err)
			}
			backoff = min(2*backoff, defaultRetryMax)
		}
	}
	return nil
}

// processPart calls one part; on an error it discards what the call
// emitted, and on a panic it also dead-letters every input.
func (f *Fanout[T]) processPart(ctx context.Context, p Part[T], in []Msg[T], out *Emitter) (err error) {
	mark := out.mark()
	defer func() {
		if r := recover(); r != nil {
			f.log.Error("stage panicked; dead-lettering the batch", "part", p.Name, "records", len(in), "panic", r, "stack", string(debug.Stack()))
			out.deadLetterAll(mark, len(in), r)
			err = nil
		}
	}()
	err = p.Stage.Process(ctx, in, out)
	if err == nil && out.encErr != nil {
		err = out.encErr
	}
	if err != nil {
		out.discard(mark)
	}
	return err
}

// Outputs implements Outputter.
func (f *Fanout[T]) Outputs() []Port {
	var ports []Port
	for _, p := range f.parts {
		if o, ok := p.Stage.(Outputter); ok {
			ports = append(ports, o.Outputs()...)
		}
	}
	return ports
}

// TickEvery implements Ticker: the shortest of the parts' (an hour if no
// part ticks).
func (f *Fanout[T]) TickEvery() time.Duration {
	every := time.Duration(0)
	for _, p := range f.parts {
		if t, ok := p.Stage.(Ticker); ok && (every == 0 || t.TickEvery() < every) {
			every = t.TickEvery()
		}
	}
	if every == 0 {
		return time.Hour
	}
	return every
}

// Tick implements Ticker: it ticks each Ticker part whose own TickEvery
// has passed since its last tick. A part that panics loses its tick's
// output, not the others'.
func (f *Fanout[T]) Tick(ctx context.Context, now time.Time, out *Emitter) {
	name := out.stage
	defer func() { out.stage = name }()
	for i, p := range f.parts {
		t, ok := p.Stage.(Ticker)
		if !ok || now.Sub(f.lastTick[i]) < t.TickEvery() {
			continue
		}
		f.lastTick[i] = now
		out.stage = p.Name
		func() {
			mark := out.mark()
			defer func() {
				if r := recover(); r != nil {
					out.discard(mark)
					f.log.Error("stage panicked in Tick", "part", p.Name, "panic", r, "stack", string(debug.Stack()))
				}
			}()
			t.Tick(ctx, now, out)
		}()
	}
}

// Retained implements Retainer: per partition, the smallest offset any
// part retains.
func (f *Fanout[T]) Retained() map[TopicPartition]int64 {
	var out map[TopicPartition]int64
	for _, p := range f.parts {
		r, ok := p.Stage.(Retainer)
		if !ok {
			continue
		}
		for tp, off := range r.Retained() {
			if out == nil {
				out = map[TopicPartition]int64{}
			}
			if cur, ok := out[tp]; !ok || off < cur {
				out[tp] = off
			}
		}
	}
	return out
}

// Revoked implements Revoker.
func (f *Fanout[T]) Revoked(ctx context.Context, tps []TopicPartition) {
	for _, p := range f.parts {
		if r, ok := p.Stage.(Revoker); ok {
			r.Revoked(ctx, tps)
		}
	}
}

// Checkpoint implements Checkpointer: the parts' checkpoints of tp by
// name, as a JSON object ("" when no part has one).
func (f *Fanout[T]) Checkpoint(tp TopicPartition) string {
	var cps map[string]string
	for _, p := range f.parts {
		c, ok := p.Stage.(Checkpointer)
		if !ok {
			continue
		}
		if cp := c.Checkpoint(tp); cp != "" {
			if cps == nil {
				cps = map[string]string{}
			}
			cps[p.Name] = cp
		}
	}
	if cps == nil {
		return ""
	}
	b, _ := json.Marshal(cps) // a map of strings always marshals
	return string(b)
}

// Resume implements Checkpointer: each Checkpointer part resumes from its
// own checkpoint in cp ("" if cp has none for it, or cp is unreadable).
func (f *Fanout[T]) Resume(tp TopicPartition, cp string) {
	var cps map[string]string
	if cp != "" {
		if err := json.Unmarshal([]byte(cp), &cps); err != nil {
			f.log.Error("unreadable checkpoint; its parts resume without one", "topic", tp.Topic, "partition", tp.Partition, "checkpoint", cp)
		}
	}
	for _, p := range f.parts {
		if c, ok := p.Stage.(Checkpointer); ok {
			c.Resume(tp, cps[p.Name])
		}
	}
}
