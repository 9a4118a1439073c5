package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/smaint/smaint/bench/backtest"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages"
	"github.com/smaint/smaint/stages/score"
)

func trainCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if supervisedTask(args, true) != "" {
		return trainSupervised(ctx, args, stdout, stderr)
	}
	fs := newFlagSet("train", "Usage: smaint train --csv FILE --models file:///DIR [flags]\n\nComputes feature windows over historical readings, as the features stage would,\nand trains an Isolation Forest per sensor type on them. Each model is stored as\na new version of iforest-<type>; \"run\" and \"backtest\" with the same --models\nscore those types with it. Train on history that is mostly normal.\n\nOther models: smaint train --task rul -h (remaining useful life), smaint train\n--labels COL -h (a failure classifier).\n", stderr)
	var (
		h               history
		models, version string
	)
	forest := score.IForestConfig{}.WithDefaults()
	t := pipeline.DefaultTopics()
	h.register(fs, slices.DeleteFunc(stages.Downstream(t, t.Clean), func(s stages.Spec) bool { return s.Name != "features" }))
	fs.StringVar(&models, "models", "", modelsFlagHelp+"; the new version is stored there")
	fs.StringVar(&version, "version", "", "version of the new models (default: the UTC time, so later versions sort last)")
	fs.IntVar(&forest.Trees, "trees", forest.Trees, "trees per forest")
	fs.IntVar(&forest.SampleSize, "sample-size", forest.SampleSize, "windows each tree is grown on")
	fs.Float64Var(&forest.Contamination, "contamination", forest.Contamination, "share of the training windows expected to be anomalous; sets the model's own threshold")
	fs.Uint64Var(&forest.Seed, "seed", forest.Seed, "random seed")
	if err := fs.parse(args); err != nil {
		return err
	}
	switch {
	case h.in == "":
		return fmt.Errorf("%w: --csv is required", errUsage)
	case models == "":
		return fmt.Errorf("%w: --models is required", errUsage)
	}
	if err := forest.Validate(); err != nil {
		return err
	}
	store, err := openModelStore(ctx, models)
	if err != nil {
		return fmt.Errorf("%w: --models: %v", errUsage, err)
	}
	if version == "" {
		version = time.Now().UTC().Format("20060102T150405Z")
	}
	rows, off, topics, err := h.open(ctx, stderr)
	if err != nil && errors.Is(err, backtest.ErrFormat) && strings.Contains(err.Error(), "no time column") {
		return fmt.Errorf("%w; smaint train without --task trains Isolation Forests on timed readings: for labelled rows give --labels COL, for run-to-failure history --task rul", err)
	}
	if err != nil {
		return err
	}
	var (
		fvs      []schemas.FeatureVector
		from, to time.Time
	)
	pipeline.Observe(off, topics.Features, func(fv *schemas.FeatureVector) {
		fvs = append(fvs, *fv)
		if from.IsZero() || fv.WindowStart.Before(from) {
			from = fv.WindowStart
		}
		if fv.WindowEnd.After(to) {
			to = fv.WindowEnd
		}
	})
	if err := backtest.Replay(ctx, off, topics.Clean, backtest.InEventOrder(rows)); err != nil {
		return err
	}
	forests, err := score.TrainPerType(fvs, forest)
	if err != nil {
		return fmt.Errorf("%s: %w", h.in, err)
	}
	published, err := score.Publish(ctx, store, forests, version, score.Manifest{
		CreatedAt: time.Now().UTC(), TrainedFrom: from.UTC(), TrainedTo: to.UTC(),
		Params: map[string]any{"trees": forest.Trees, "sample_size": forest.SampleSize, "contamination": forest.Contamination, "seed": forest.Seed},
	})
	for _, p := range published {
		fmt.Fprintf(stdout, "%-22s version %s: %d windows, threshold %.3f, %s\n", p.Model, p.Version, p.Windows, p.Threshold, p.URI)
	}
	if err != nil {
		return err
	}
	for _, p := range published { // what train stores is what scores from now on
		if err := store.SetLive(ctx, p.Model, p.Version); err != nil {
			return err
		}
	}
	return json.NewEncoder(stdout).Encode(published)
}
