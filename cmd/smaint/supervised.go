package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/smaint/smaint/stages/predict"
	"github.com/smaint/smaint/stages/score"
)

// The supervised tasks of train and evaluate: remaining useful life from
// run-to-failure history (--task rul), and a failure classifier from
// labelled rows (--task failure, or --labels). Their models go to the
// model store like the Isolation Forests, as gbdt-rul and gbdt-failure
// artifacts.

// supervisedTask returns the task args ask train (training) or evaluate
// for: "rul", "failure", "forecast", or "" (the default task). --task
// decides, wherever it is; else train's --labels asks for "failure"
// (evaluate's --labels are the labelled files of detection), and
// evaluate's --forecasts for "forecast".
func supervisedTask(args []string, training bool) string {
	implied := ""
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		switch {
		case name == "task" && hasVal:
			return val
		case name == "task" && i+1 < len(args):
			return args[i+1]
		case name == "labels" && training:
			implied = "failure"
		case name == "forecasts" && !training:
			implied = "forecast"
		}
	}
	return implied
}

// withoutTask returns args without a --task flag and its value.
func withoutTask(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		name, _, hasVal := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if strings.HasPrefix(args[i], "-") && name == "task" {
			if !hasVal {
				i++
			}
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// supervisedFlags are the flags both tasks' train and evaluate share.
type supervisedFlags struct {
	task, in, models, name string
	unitCol, timeCol       string
	channels, inputs       listFlag
	labels                 listFlag
}

func (f *supervisedFlags) register(fs *flagSet) {
	fs.StringVar(&f.task, "task", "", "rul (remaining useful life from run-to-failure history) or failure (a classifier of labelled rows; implied by --labels)")
	fs.StringVar(&f.in, "csv", "", "CSV file with a header line (comma, semicolon or tab separated)")
	fs.StringVar(&f.models, "models", "", modelsFlagHelp)
	fs.StringVar(&f.name, "name", "", "model name in the store (default gbdt-rul or gbdt-failure)")
	fs.StringVar(&f.unitCol, "unit-col", "unit", "rul: column naming the unit (asset, engine) a row belongs to")
	fs.StringVar(&f.timeCol, "time-col", "cycle", "rul: column of the row's time (cycles, hours) within its run")
	fs.Var(&f.channels, "channels", "rul: channels to learn from, comma-separated (default: every other numeric column)")
	fs.Var(&f.inputs, "inputs", "failure: input columns, comma-separated (default: every column but the labels and those named id or ending in id)")
	fs.Var(&f.labels, "labels", "failure: label columns, comma-separated, non-zero when the failure (mode) happened (evaluate: the model's own)")
}

func (f *supervisedFlags) check(training bool) error {
	switch {
	case f.task != "rul" && f.task != "failure":
		return fmt.Errorf("%w: --task %q (want rul or failure)", errUsage, f.task)
	case f.in == "":
		return fmt.Errorf("%w: --csv is required", errUsage)
	case f.models == "":
		return fmt.Errorf("%w: --models is required", errUsage)
	case training && f.task == "failure" && len(f.labels) == 0:
		return fmt.Errorf("%w: --labels is required for --task failure", errUsage)
	}
	if f.name == "" {
		f.name = "gbdt-" + f.task
	}
	return nil
}

func trainSupervised(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", "Usage: smaint train --task rul --csv FILE --models URI [flags]\n       smaint train --labels COL[,COL...] --csv FILE --models URI [flags]\n\nTrains gradient-boosted trees and stores them in the model store as a new\nversion, made live.\n\n--task rul: each unit's rows (--unit-col, in --time-col order) are a run that\nends when the unit failed; the model learns the time left from the trailing\nwindow of every row.\n\n--labels: a classifier of the failure class and modes (one model per label\ncolumn), scored on a held-out share of the rows (--holdout, --seed).\n", stderr)
	var (
		f       supervisedFlags
		version string
		holdout float64
		rc      = predict.RULConfig{}.WithDefaults()
		bc      = predict.BoostConfig{}.WithDefaults()
	)
	f.register(fs)
	fs.StringVar(&version, "version", "", "version of the new model (default: the UTC time)")
	fs.Float64Var(&holdout, "holdout", 0.3, "failure: share of the rows held out to score the classifier (0: none)")
	fs.Uint64Var(&bc.Seed, "seed", 1, "random seed of the split and the trees")
	fs.IntVar(&bc.Trees, "trees", bc.Trees, "trees per model")
	fs.IntVar(&bc.Depth, "depth", bc.Depth, "levels of splits per tree")
	fs.Float64Var(&bc.Rate, "rate", bc.Rate, "learning rate")
	fs.IntVar(&rc.Window, "window", rc.Window, "rul: rows the trailing features look back over")
	fs.Float64Var(&rc.Cap, "cap", rc.Cap, "rul: remaining life is capped at this in training targets")
	if err := fs.parse(args); err != nil {
		return err
	}
	if f.task == "" && len(f.labels) > 0 {
		f.task = "failure"
	}
	if err := f.check(true); err != nil {
		return err
	}
	if !(holdout >= 0 && holdout < 1) {
		return fmt.Errorf("%w: --holdout %v (want 0 to under 1)", errUsage, holdout)
	}
	store, err := openModelStore(ctx, f.models)
	if err != nil {
		return fmt.Errorf("%w: --models: %v", errUsage, err)
	}
	if version == "" {
		version = time.Now().UTC().Format("20060102T150405Z")
	}
	t, err := readTable(f.in)
	if err != nil {
		return err
	}
	man := score.Manifest{Name: f.name, Version: version, CreatedAt: time.Now().UTC(), Metrics: map[string]float64{},
		Params: map[string]any{"trees": bc.Trees, "depth": bc.Depth, "rate": bc.Rate, "seed": bc.Seed}}
	var model any
	switch f.task {
	case "rul":
		runs, channels, err := runsOf(t, f.unitCol, f.timeCol, f.channels)
		if err != nil {
			return err
		}
		rc.Boost = bc
		m, err := predict.TrainRUL(runs, channels, rc)
		if err != nil {
			return fmt.Errorf("%s: %w", f.in, err)
		}
		model, man.Detector, man.Features = m, "gbdt-rul", m.Features
		man.Params["window"], man.Params["cap"] = rc.Window, rc.Cap
		man.Metrics["runs"] = float64(len(runs))
		fmt.Fprintf(stdout, "%s version %s: remaining useful life from %d runs, %d channels used of %d\n", f.name, version, len(runs), len(m.Used), len(channels))
	case "failure":
		inputs := f.inputs
		if len(inputs) == 0 {
			inputs = defaultInputs(t.Header, f.labels)
			if leak := labelLike(t, inputs, f.labels); len(leak) > 0 {
				verb := "hold"
				if len(leak) == 1 {
					verb = "holds"
				}
				fmt.Fprintf(stderr, "warning: %s %s 1 only where a label is non-zero: as an input it gives the answer away; name it in --labels too, or choose the inputs with --inputs\n", strings.Join(leak, ", "), verb)
			}
		}
		for _, in := range inputs {
			if c := t.Column(in); c >= 0 {
				if n := t.Stray(c); n > 0 {
					return fmt.Errorf("%s: row %d: %s is %q, not a number as the column's other values are (fix the row, or leave it out)", f.in, n, in, t.Rows[n-1][c])
				}
			}
		}
		train, test := t, predict.Table{}
		if holdout > 0 {
			train, test = predict.Split(t, holdout, bc.Seed)
		}
		c, err := predict.TrainClassifier(train, inputs, f.labels, bc)
		if err != nil {
			return fmt.Errorf("%s: %w%s", f.in, err, headerHint(t))
		}
		model, man.Detector, man.Features = c, "gbdt-failure", c.Features
		man.Params["holdout"], man.Params["inputs"], man.Params["labels"] = holdout, inputs, []string(f.labels)
		fmt.Fprintf(stdout, "%s version %s: %d labels from %d inputs, trained on %d rows\n", f.name, version, len(f.labels), len(inputs), len(train.Rows))
		if len(test.Rows) > 0 {
			scores, err := c.Evaluate(test)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "held out %d rows (%.0f%%, seed %d):\n", len(test.Rows), 100*holdout, bc.Seed)
			printClassScores(stdout, scores)
			for _, s := range scores {
				man.Metrics["f1:"+s.Label] = s.F1
			}
		}
	}
	b, err := json.Marshal(model)
	if err != nil {
		return err
	}
	art, err := score.EncodeArtifact(man, b)
	if err != nil {
		return err
	}
	uri, _, err := store.Put(ctx, f.name, version, art)
	if err != nil {
		return fmt.Errorf("store %s: %w", f.name, err)
	}
	if err := store.SetLive(ctx, f.name, version); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stored %s\n", uri)
	return nil
}

func evaluateSupervised(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("evaluate", "Usage: smaint evaluate --task rul --csv FILE --truth FILE --models URI [flags]\n       smaint evaluate --task failure --csv FILE --models URI [flags]\n\nScores the live version of a stored model (--name) on labelled data.\n\n--task rul: each unit's remaining life at its last row of --csv is predicted\nand compared with --truth (a CSV of unit and remaining life): RMSE, MAE and the\nPHM08 score (late predictions cost more).\n\n--task failure: precision, recall and F1 of each label the classifier has, on\nthe rows of --csv.\n", stderr)
	var (
		f        supervisedFlags
		truth    string
		jsonOut  bool
		truthCol string
		outPath  string
	)
	f.register(fs)
	fs.StringVar(&truth, "truth", "", "rul: CSV of each unit's true remaining life at its last row: --unit-col and --truth-col")
	fs.StringVar(&truthCol, "truth-col", "rul", "rul: column of --truth holding the remaining life")
	fs.BoolVar(&jsonOut, "json", false, "also print the result as one JSON object on the last line")
	fs.StringVar(&outPath, "out", "", "also write each prediction to this CSV file, with the three features that drove it most")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := f.check(false); err != nil {
		return err
	}
	store, err := openModelStore(ctx, f.models)
	if err != nil {
		return fmt.Errorf("%w: --models: %v", errUsage, err)
	}
	man, b, err := score.LiveArtifact(ctx, store, f.name)
	if errors.Is(err, score.ErrNoModel) {
		train := "--task rul"
		if f.task == "failure" {
			train = "--labels COL[,COL...]"
		}
		if f.name != "gbdt-"+f.task {
			train += " --name " + f.name
		}
		return fmt.Errorf("%w in %s: train one first (smaint train %s --csv FILE --models %s), or name another with --name", err, f.models, train, f.models)
	}
	if err != nil {
		return err
	}
	t, err := readTable(f.in)
	if err != nil {
		return err
	}
	var result any
	switch f.task {
	case "rul":
		if truth == "" {
			return fmt.Errorf("%w: --truth is required for --task rul", errUsage)
		}
		var m predict.RUL
		if err := json.Unmarshal(b, &m); err != nil || m.Model == nil {
			return fmt.Errorf("%s %s is not a remaining-useful-life model (%s)", man.Name, man.Version, man.Detector)
		}
		runs, _, err := runsOf(t, f.unitCol, f.timeCol, m.Channels)
		if err != nil {
			return err
		}
		tt, err := readTable(truth)
		if err != nil {
			return err
		}
		want, err := truthByUnit(tt, f.unitCol, truthCol)
		if err != nil {
			return fmt.Errorf("--truth: %w", err)
		}
		var pred, real, lower, upper []float64
		rows := [][]string{{"unit", "predicted", "lower", "upper", "true", "drivers"}}
		for _, r := range runs {
			v, ok := want[r.Unit]
			if !ok {
				return fmt.Errorf("--truth has no remaining life for unit %s", r.Unit)
			}
			lo, hi := m.Interval(r)
			pred, real, lower, upper = append(pred, m.Predict(r)), append(real, v), append(lower, lo), append(upper, hi)
			rows = append(rows, []string{r.Unit, fmt.Sprintf("%.2f", pred[len(pred)-1]), fmt.Sprintf("%.2f", lo), fmt.Sprintf("%.2f", hi),
				fmt.Sprint(v), predict.FormatDrivers(m.Drivers(r, 3))})
		}
		if err := writeRows(outPath, rows); err != nil {
			return err
		}
		s := predict.ScoreRUL(pred, real)
		if m.Lower != nil {
			s.Cover(lower, upper, real)
		}
		fmt.Fprintf(stdout, "%s %s on %d units: RMSE %.2f, MAE %.2f, PHM08 score %.1f, 80%% intervals held %.0f%%\n",
			man.Name, man.Version, s.Units, s.RMSE, s.MAE, s.PHM08, 100*s.Coverage)
		result = s
	case "failure":
		var c predict.Classifier
		if err := json.Unmarshal(b, &c); err != nil || len(c.Models) == 0 {
			return fmt.Errorf("%s %s is not a failure classifier (%s)", man.Name, man.Version, man.Detector)
		}
		scores, err := c.Evaluate(t)
		if err != nil {
			return fmt.Errorf("%s: %w%s", f.in, err, headerHint(t))
		}
		if outPath != "" {
			rows := [][]string{append(append([]string{"row"}, c.Labels...), "drivers of "+c.Labels[0])}
			for i, r := range t.Rows {
				p, err := c.Predict(t.Header, r)
				if err != nil {
					return fmt.Errorf("row %d: %w", i+1, err)
				}
				ds, err := c.Drivers(t.Header, r, 0, 3)
				if err != nil {
					return err
				}
				line := []string{fmt.Sprint(i + 1)}
				for _, v := range p {
					line = append(line, fmt.Sprintf("%.4f", v))
				}
				rows = append(rows, append(line, predict.FormatDrivers(ds)))
			}
			if err := writeRows(outPath, rows); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "%s %s on %d rows:\n", man.Name, man.Version, len(t.Rows))
		printClassScores(stdout, scores)
		result = scores
	}
	if jsonOut {
		return json.NewEncoder(stdout).Encode(result)
	}
	return nil
}

// writeRows writes rows as CSV to path; nothing when path is empty.
func writeRows(path string, rows [][]string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return fmt.Errorf("--out: %w", err)
	}
	return f.Close()
}

func printClassScores(w io.Writer, scores []predict.ClassScore) {
	fmt.Fprintf(w, "  %-20s %9s %9s %9s %7s %6s\n", "label", "positives", "predicted", "precision", "recall", "F1")
	for _, s := range scores {
		fmt.Fprintf(w, "  %-20s %9d %9d %9.3f %7.3f %6.3f\n", s.Label, s.Positives, s.Predicted, s.Precision, s.Recall, s.F1)
	}
}
