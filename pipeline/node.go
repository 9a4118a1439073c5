package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/smaint/smaint/schemas"
)

// Node is one stage of a topology, as a table of stages lists it: its
// name, the topics it reads, and the stage itself with its input type
// hidden, so that one list can hold stages of every input type. Make it
// with NewNode. Runners runs a list of nodes on Kafka; NewOffline runs
// them in process. A Node is a value: copying it copies a reference to
// the same stage, which must run in one place at a time.
type Node struct {
	// Name names the stage in metrics, logs and dead letters; its runner's
	// consumer group is "smaint-<Name>".
	Name string
	// Inputs are the topics the stage reads. A stage with several reads
	// them co-partitioned (see CoPartitioned).
	Inputs []string
	// Shares marks a stage that may share one consumer with the other
	// Shares nodes that read the same Inputs (see Runners).
	Shares bool

	stage erasedStage
}

// NewNode returns the Node of stage. decode decodes its inputs; nil means
// T is a schemas record type, decoded as such (see DecodeWith).
func NewNode[T any](name string, inputs []string, stage Stage[T], decode DecodeFunc[T]) Node {
	return Node{Name: name, Inputs: slices.Clone(inputs), stage: &typedStage[T]{stage: stage, decode: decode}}
}

// SharedName is the name of the runner that runs the named stages on one
// consumer: their names joined by "+" ("features+drift").
func SharedName(names ...string) string { return strings.Join(names, "+") }

// erasedStage is a typedStage with T hidden.
type erasedStage interface {
	runner(n Node, opts []Option) (Service, error)
	fanout(log *slog.Logger, nodes []Node) (erasedStage, error)
	offline(ctx context.Context, name string, serde *schemas.Serde) (offlineStage, error)
}

type typedStage[T any] struct {
	stage  Stage[T]
	decode DecodeFunc[T]
}

func (t *typedStage[T]) runner(n Node, opts []Option) (Service, error) {
	opts = append(slices.Clone(opts), ConsumeTopics(n.Inputs...))
	if len(n.Inputs) > 1 {
		opts = append(opts, CoPartitioned())
	}
	if t.decode != nil {
		opts = append(opts, DecodeWith(t.decode))
	}
	return NewRunner(n.Name, t.stage, opts...)
}

// fanout returns one stage running the stages of nodes (t's among them)
// as the parts of a Fanout, decoding as t does.
func (t *typedStage[T]) fanout(log *slog.Logger, nodes []Node) (erasedStage, error) {
	parts := make([]Part[T], len(nodes))
	for i, n := range nodes {
		ts, ok := n.stage.(*typedStage[T])
		if !ok {
			return nil, fmt.Errorf("%w: %s and %s share a consumer but read different types", ErrConfig, nodes[0].Name, n.Name)
		}
		parts[i] = Part[T]{Name: n.Name, Stage: ts.stage}
	}
	f, err := NewFanout(log, parts...)
	if err != nil {
		return nil, err
	}
	return &typedStage[T]{stage: f, decode: t.decode}, nil
}

// Runners returns a Service for every node, in order: a Runner consuming
// the node's Inputs with opts, in its own consumer group. Nodes marked
// Shares that read the same Inputs run on one Runner instead, at the
// place of the first of them: a Fanout of their stages, named
// SharedName(their names), whose parts keep their own dead letters,
// failures and checkpoints (see Fanout). Sharing fetches and decodes each
// record once for all of them; its group is not theirs, so running them
// together or apart starts from different committed offsets.
func Runners(nodes []Node, opts ...Option) ([]Service, error) {
	var cfg runnerConfig
	for _, o := range opts {
		o(&cfg)
	}
	grouped, err := Share(nodes, cfg.log)
	if err != nil {
		return nil, err
	}
	out := make([]Service, 0, len(grouped))
	for _, n := range grouped {
		r, err := n.stage.runner(n, opts)
		if err != nil {
			for _, made := range out {
				made.(interface{ abandon() }).abandon()
			}
			return nil, fmt.Errorf("stage %s: %w", n.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Share returns nodes with every set of Shares nodes that read the same
// Inputs replaced, at the place of its first member, by one node running
// them all (see Runners); log (nil: discard) gets the shared stage's
// retries and panics. Nodes are checked: each needs a name, a stage and
// an input.
func Share(nodes []Node, log *slog.Logger) ([]Node, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: no stages to run", ErrConfig)
	}
	var out []Node
	members := map[int][]Node{} // index in out -> the nodes sharing it
	for _, n := range nodes {
		if n.Name == "" || n.stage == nil || len(n.Inputs) == 0 {
			return nil, fmt.Errorf("%w: stage %q needs a name, a stage and an input (use NewNode)", ErrConfig, n.Name)
		}
		i := slices.IndexFunc(out, func(o Node) bool { return n.Shares && o.Shares && slices.Equal(o.Inputs, n.Inputs) })
		if i < 0 {
			members[len(out)] = []Node{n}
			out = append(out, n)
			continue
		}
		members[i] = append(members[i], n)
	}
	for i, ms := range members {
		if len(ms) == 1 {
			continue
		}
		names := make([]string, len(ms))
		for j, m := range ms {
			names[j] = m.Name
		}
		name := SharedName(names...)
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		st, err := ms[0].stage.fanout(log.With("stage", name), ms)
		if err != nil {
			return nil, err
		}
		out[i] = Node{Name: name, Inputs: ms[0].Inputs, Shares: true, stage: st}
	}
	return out, nil
}
