package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/smaint/smaint/bench/backtest"
)

func evaluateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if t := supervisedTask(args, false); t == "rul" || t == "failure" {
		return evaluateSupervised(ctx, args, stdout, stderr)
	}
	fs := newFlagSet("evaluate", "Usage: smaint evaluate --labels FILE[,FILE...] [flags]\n\nScores backtest's scored files against the labels of their inputs: pointwise\nprecision, recall and F1 with the false and missed alarm rates, the events\ncaught with their delay, and the windowed benchmark score (NAB's method, in its\nstandard, reward_low_fp and reward_low_fn profiles; the onset of each flagged\nspan is a detection), over all the files together.\n", stderr)
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
