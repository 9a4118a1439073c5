package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/smaint/smaint/bench/backtest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/forecast"
)

func evaluateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if n := len(args); n > 0 && strings.TrimLeft(args[n-1], "-") == "task" && strings.HasPrefix(args[n-1], "-") {
		return fmt.Errorf("%w: --task needs a value: anomaly (the default), forecast, rul or failure", errUsage)
	}
	switch task := supervisedTask(args, false); task {
	case "rul", "failure":
		return evaluateSupervised(ctx, args, stdout, stderr)
	case "forecast":
		return evaluateForecasts(args, stdout, stderr)
	case "", "anomaly":
		args = withoutTask(args)
	default:
		return fmt.Errorf("%w: --task %q (want anomaly, the default, forecast, rul or failure)", errUsage, task)
	}
	fs := newFlagSet("evaluate", "Usage: smaint evaluate --labels FILE[,FILE...] [flags]\n\nScores backtest's scored files against the labels of their inputs: pointwise\nprecision, recall and F1 with the false and missed alarm rates, the events\ncaught with their delay, and the windowed benchmark score (NAB's method, in its\nstandard, reward_low_fp and reward_low_fn profiles; the onset of each flagged\nspan is a detection), over all the files together.\n\nOther tasks (--task anomaly is this one): smaint evaluate --task rul -h (remaining life), --task failure -h\n(a failure classifier), --task forecast -h (backtest's --forecasts files).\n", stderr)
	var (
		labels, scored listFlag
		by             string
		jsonOut        bool
		l              = backtest.Labels{}.WithDefaults()
	)
	fs.Var(&labels, "labels", "labelled files, comma-separated: backtest's inputs, with a label column")
	fs.Var(&scored, "scored", "their scored files, in the same order (default: each labelled file's .scored.csv)")
	fs.StringVar(&l.TimeCol, "time-col", l.TimeCol, "column of the event time in the labelled files")
	fs.StringVar(&l.LabelCol, "label-col", l.LabelCol, "column of the label: non-zero while an anomaly is under way")
	fs.StringVar(&l.TimeFormat, "time-format", l.TimeFormat, "event time format, as backtest's --time-format")
	fs.IntVar(&l.Skip, "skip", 0, "leading lines of each labelled file left out (a training part)")
	fs.StringVar(&by, "by", "alert", "what flags a time: alert (one open on any sensor) or window (an anomalous window)")
	fs.BoolVar(&jsonOut, "json", false, "also print the result as one JSON object on the last line")
	if err := fs.parse(args); err != nil {
		return err
	}
	d, err := backtest.EvaluateFiles(labels, scored, l, by)
	if err != nil {
		return err
	}
	d.Print(stdout)
	if jsonOut {
		return json.NewEncoder(stdout).Encode(d)
	}
	return nil
}

// evaluateForecasts scores the forecasts files backtest --forecasts wrote.
func evaluateForecasts(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("evaluate", "Usage: smaint evaluate [--task forecast] --forecasts FILE[,FILE...] [--json]\n\nScores forecasts, as backtest --forecasts writes them, against what each sensor's\nfeature was at their horizon, and against the naive forecast (the last value):\nthe geometric mean over sensors of MAE over naive MAE, the share of sensors\nforecast better than naive, and the share of outcomes inside the 80% intervals.\n", stderr)
	var (
		task    string
		files   listFlag
		jsonOut bool
	)
	fs.StringVar(&task, "task", "forecast", "forecast")
	fs.Var(&files, "forecasts", "forecasts files, comma-separated; each is scored on its own sensors, the result over all")
	fs.BoolVar(&jsonOut, "json", false, "also print the result as one JSON object on the last line")
	if err := fs.parse(args); err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: --forecasts is required", errUsage)
	}
	var all []schemas.Forecast
	for i, f := range files {
		fc, err := backtest.ReadForecasts(f)
		if err != nil {
			return err
		}
		for j := range fc { // files may reuse sensor ids (SKAB's columns)
			fc[j].SensorID = strconv.Itoa(i) + "/" + fc[j].SensorID
		}
		all = append(all, fc...)
	}
	acc := forecast.Evaluate(all)
	plural := "s"
	if len(files) == 1 {
		plural = ""
	}
	fmt.Fprintf(stdout, "%d forecasts in %d file%s, %d of them with an outcome at their horizon: %s\n", len(all), len(files), plural, acc.Forecasts, acc)
	if jsonOut {
		return json.NewEncoder(stdout).Encode(acc)
	}
	return nil
}
