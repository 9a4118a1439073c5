package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/features"
	"github.com/smaint/smaint/stages/score"
)

func trainCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", "Usage: smaint train --csv FILE --models file:///DIR [flags]\n\nComputes feature windows over historical readings, as the features stage would,\nand trains an Isolation Forest per sensor type on them. Each model is stored as\na new version of iforest-<type>; \"run\" and \"backtest\" with the same --models\nscore those types with it. Train on history that is mostly normal.\n", stderr)
	var (
		cf            csvFlags
		ff            featureFlags
		lf            logFlags
		models        string
		version       string
		trees, sample int
		contamination float64
		seed          uint64
	)
	cf.register(fs)
	ff.register(fs)
	lf.register(fs, "warn")
	fs.StringVar(&models, "models", "", "model store to write to (file:///dir)")
	fs.StringVar(&version, "version", "", "version of the new models (default: the UTC time, so later versions sort last)")
	fs.IntVar(&trees, "trees", 100, "trees per forest")
	fs.IntVar(&sample, "sample-size", 256, "windows each tree is grown on")
	fs.Float64Var(&contamination, "contamination", 0.01, "share of the training windows expected to be anomalous; sets the model's own threshold")
	fs.Uint64Var(&seed, "seed", 1, "random seed")
	if err := fs.parse(args); err != nil {
		return err
	}
	switch {
	case cf.in == "":
		return fmt.Errorf("%w: --csv is required", errUsage)
	case models == "":
		return fmt.Errorf("%w: --models is required", errUsage)
	case trees < 1 || sample < 2:
		return fmt.Errorf("%w: --trees must be positive and --sample-size at least 2", errUsage)
	case contamination <= 0 || contamination >= 0.5:
		return fmt.Errorf("%w: --contamination %v (want 0-0.5)", errUsage, contamination)
	}
	store, err := score.OpenModelStore(models)
	if err != nil {
		return fmt.Errorf("%w: --models: %v", errUsage, err)
	}
	if version == "" {
		version = time.Now().UTC().Format("20060102T150405Z")
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	d := newDeps(log, schemas.NewSerde())
	fc, err := ff.config(d)
	if err != nil {
		return err
	}
	rows, err := cf.read()
	if err != nil {
		return err
	}
	fvs, err := windowsOf(ctx, fc, d.topics.Features, inEventOrder(rows))
	if err != nil {
		return err
	}
	// One training set per sensor type, of the vectors with that type's
	// usual feature count (band energies come only with full windows).
	byType := map[string][][]float64{}
	bands := map[string]int{}
	for i := range fvs {
		fv := &fvs[i]
		if fv.Count < 3 {
			continue // degenerate windows teach nothing
		}
		byType[fv.SensorType] = append(byType[fv.SensorType], score.FeatureValues(nil, fv))
		bands[fv.SensorType] = max(bands[fv.SensorType], len(fv.BandEnergies))
	}
	if len(byType) == 0 {
		return fmt.Errorf("%s: no feature window of 3 or more readings to train on", cf.in)
	}
	type trained struct {
		Model     string  `json:"model"`
		Version   string  `json:"version"`
		Windows   int     `json:"windows"`
		Threshold float64 `json:"threshold"`
		URI       string  `json:"uri"`
		SHA256    string  `json:"sha256"`
	}
	var out []trained
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		names := score.FeatureNames(bands[typ])
		train := slices.DeleteFunc(byType[typ], func(x []float64) bool { return len(x) != len(names) })
		name := "iforest-" + typ
		m, err := score.TrainIForest(name, typ, names, train, score.IForestConfig{Trees: trees, SampleSize: sample, Contamination: contamination, Seed: seed})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		m.Version = version
		b, err := m.Marshal()
		if err != nil {
			return err
		}
		uri, sha, err := store.Put(ctx, name, version, b)
		if err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
		out = append(out, trained{name, version, len(train), m.Threshold, uri, sha})
		fmt.Fprintf(stdout, "%-22s version %s: %d windows, threshold %.3f, %s\n", name, version, len(train), m.Threshold, uri)
	}
	return json.NewEncoder(stdout).Encode(out)
}

// windowsOf runs the features stage over readings in event order and
// returns every window it closes, the last ones included.
func windowsOf(ctx context.Context, fc features.Config, topic string, readings []schemas.SensorReading) ([]schemas.FeatureVector, error) {
	fc.Clock = &clockAt{}
	st, err := features.New(fc)
	if err != nil {
		return nil, err
	}
	loc, err := pipeline.NewLocal(ctx, "features", pipeline.Stage[schemas.SensorReading](st), nil)
	if err != nil {
		return nil, err
	}
	var out []schemas.FeatureVector
	msgs := make([]pipeline.Msg[schemas.SensorReading], 0, 1000)
	for i := 0; i < len(readings); i += 1000 {
		msgs = msgs[:0]
		for j, r := range readings[i:min(i+1000, len(readings))] {
			msgs = append(msgs, pipeline.Msg[schemas.SensorReading]{Value: r, Topic: "csv", Offset: int64(i + j)})
		}
		res, err := loc.Process(ctx, msgs)
		if err == nil {
			err = rejected("features", res)
		}
		if err != nil {
			return nil, err
		}
		fvs, err := pipeline.Decode[schemas.FeatureVector](ctx, res, topic)
		if err != nil {
			return nil, err
		}
		out = append(out, fvs...)
	}
	res, err := loc.Tick(ctx, time.Now().Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	fvs, err := pipeline.Decode[schemas.FeatureVector](ctx, res, topic)
	return append(out, fvs...), err
}
