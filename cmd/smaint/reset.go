package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/stages"
)

// resetCmd moves a stage's committed offsets.
func resetCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("reset", "Usage: smaint reset --brokers HOST:PORT --stage S --to earliest|latest|TIME [flags]\n\n"+
		"Moves the committed offsets of a stage's consumer group on its input topics: to the\n"+
		"start of each partition (earliest: the stage processes everything again), to its end\n"+
		"(latest: it skips what is there), or to the first record at or after TIME (RFC 3339).\n"+
		"The stage's checkpoints go with them: it resumes as a new owner would. It refuses\n"+
		"while the group has members: stop the stage first. S is a stage of --stages, or\n"+
		"features+drift for the group those two share when they run in one process; a stage\n"+
		"whose group does not exist yet gets one, which the stage then starts from.\n", stderr)
	var (
		kf    kafkaFlags
		stage string
		to    string
	)
	kf.register(fs)
	fs.StringVar(&stage, "stage", "", "the stage whose group to move (dedupe, features, score, drift, alert, features+drift, sink-readings, ...)")
	fs.StringVar(&to, "to", "", "earliest, latest, or a time (RFC 3339)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := kf.validate(); err != nil {
		return err
	}
	topics, err := kf.names.topics()
	if err != nil {
		return err
	}
	inputs, err := stageInputs(topics, stage)
	if err != nil {
		return err
	}
	var at time.Time
	switch to {
	case "earliest", "latest":
	case "":
		return fmt.Errorf("%w: --to is required: earliest, latest or a time", errUsage)
	default:
		if at, err = time.Parse(time.RFC3339Nano, to); err != nil {
			return fmt.Errorf("%w: --to %q: want earliest, latest or an RFC 3339 time", errUsage, to)
		}
	}
	opts, err := kf.cfg.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("%w: %w", pipeline.ErrConfig, err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	group := kf.names.groupPrefix + "smaint-" + stage
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describe group %s: %w", group, err)
	}
	if g, ok := described[group]; ok && g.Err == nil && len(g.Members) > 0 {
		return fmt.Errorf("%w: group %s has %d members (state %s): stop the stage before moving its offsets", errUsage, group, len(g.Members), g.State)
	}
	var listed kadm.ListedOffsets
	switch to {
	case "earliest":
		listed, err = adm.ListStartOffsets(ctx, inputs...)
	case "latest":
		listed, err = adm.ListEndOffsets(ctx, inputs...)
	default:
		listed, err = adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), inputs...)
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return fmt.Errorf("list offsets of %s: %w", strings.Join(inputs, ", "), err)
	}
	offsets := listed.Offsets()
	resp, err := adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("commit offsets of %s: %w", group, err)
	}
	n := 0
	offsets.Each(func(o kadm.Offset) {
		n++
		fmt.Fprintf(stdout, "%s %s[%d] -> %d\n", group, o.Topic, o.Partition, o.At)
	})
	fmt.Fprintf(stdout, "moved %d partitions of group %s to %s\n", n, group, to)
	return nil
}

// stageInputs returns the input topics of stage (or of a shared group,
// "features+drift"), over topics t.
func stageInputs(t pipeline.Topics, stage string) ([]string, error) {
	if stage == "" {
		return nil, fmt.Errorf("%w: --stage is required", errUsage)
	}
	var inputs []string
	for _, part := range strings.Split(stage, "+") {
		i := slices.IndexFunc(stages.Topology(t), func(s stages.Spec) bool { return s.Name == part })
		if i < 0 {
			return nil, fmt.Errorf("%w: --stage %q: no stage %q (want one of %s)", errUsage, stage, part, strings.Join(stages.Names(), ", "))
		}
		for _, in := range stages.Topology(t)[i].Inputs {
			if !slices.Contains(inputs, in) {
				inputs = append(inputs, in)
			}
		}
	}
	return inputs, nil
}
