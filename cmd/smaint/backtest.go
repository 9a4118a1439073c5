package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/smaint/smaint/bench/backtest"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages"
	"github.com/smaint/smaint/stages/simulate"
)

// csvFlags say where historical readings are and how to read them.
type csvFlags struct {
	in  string
	fmt backtest.Format
}

func (f *csvFlags) register(fs *flagSet) {
	d := backtest.Format{}.WithDefaults()
	fs.StringVar(&f.in, "csv", "", "input CSV with a header row")
	fs.StringVar(&f.fmt.TimeCol, "time-col", d.TimeCol, "column of the event time")
	f.fmt.ValueCols = d.ValueCols
	fs.Var((*listFlag)(&f.fmt.ValueCols), "value-col", "column of the value; or several, comma-separated, each a sensor named after its column (a wide file)")
	fs.StringVar(&f.fmt.SensorCol, "sensor-col", d.SensorCol, "column of the sensor id (if absent, --sensor)")
	fs.StringVar(&f.fmt.TypeCol, "type-col", d.TypeCol, "column of the sensor type (if absent, --type)")
	fs.StringVar(&f.fmt.AssetCol, "asset-col", d.AssetCol, "column of the asset id (if absent, --asset)")
	fs.StringVar(&f.fmt.Sensor, "sensor", d.Sensor, "sensor id for a file without a sensor column")
	fs.StringVar(&f.fmt.Type, "type", d.Type, "sensor type for a file without a type column (e.g. vibration, pressure)")
	fs.StringVar(&f.fmt.Asset, "asset", d.Asset, "asset id for a file without an asset column")
	fs.StringVar(&f.fmt.Unit, "unit", d.Unit, "unit of the values")
	fs.StringVar(&f.fmt.TimeFormat, "time-format", d.TimeFormat, "event time format: auto (RFC 3339, \"2006-01-02 15:04:05\" or unix s, ms or µs, from the first line), rfc3339, unix, unixms, unixus, or a Go layout")
}

// history are the flags of a command that runs stages over a CSV of
// history (backtest, train): the file, the stages' settings, the log.
type history struct {
	csvFlags
	specs []stages.Spec
	set   *settings
	log   logFlags
	used  stages.Config // the stages' configuration open used (windows sized, for "auto")
}

func (h *history) register(fs *flagSet, specs []stages.Spec) {
	h.csvFlags.register(fs)
	h.specs, h.set = specs, newSettings(fs, specs)
	h.log.register(fs, "warn")
}

// open reads the rows and builds, in process, the stages.
func (h *history) open(ctx context.Context, stderr io.Writer) ([]backtest.Row, *pipeline.Offline, pipeline.Topics, error) {
	log, err := h.log.logger(stderr)
	if err != nil {
		return nil, nil, pipeline.Topics{}, err
	}
	if h.in == "" {
		return nil, nil, pipeline.Topics{}, fmt.Errorf("%w: --csv is required", errUsage)
	}
	d := newDeps(log, schemas.NewSerde())
	cfg, err := h.set.config(ctx, d)
	if err != nil {
		return nil, nil, d.topics, err
	}
	rows, off, err := backtest.Open(ctx, h.in, h.fmt, &cfg, h.specs)
	h.used = cfg
	return rows, off, d.topics, err
}

func backtestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backtest", "Usage: smaint backtest --csv FILE [flags]\n\nRuns the analytics stages (features, score, drift, forecast, alert) over\nhistorical readings in event time, without Kafka, with the same code and\nsettings as the stream. Writes each input row with its window's anomaly score and whether an\nalert was open, and prints a summary. Tune thresholds with it.\n", stderr)
	var (
		h                history
		out, truth       string
		forecastsOut     string
		alertsOut        string
		noDrift, jsonOut bool
	)
	fs.StringVar(&out, "out", "", "output CSV (default: the input name with .scored.csv)")
	fs.StringVar(&forecastsOut, "forecasts", "", "also write every forecast to this CSV file, for smaint evaluate --task forecast")
	fs.StringVar(&alertsOut, "alerts", "", "also write every alert record (opened, updated, resolved; with its summary and action) to this CSV file")
	fs.StringVar(&truth, "truth", "", "ground truth (JSON lines, as smaint simulate --truth writes) to score the alerts against")
	fs.BoolVar(&noDrift, "no-drift", false, "skip the drift stage")
	fs.BoolVar(&jsonOut, "json", false, "also print the summary as one JSON object on the last line")
	t := pipeline.DefaultTopics()
	h.register(fs, stages.Downstream(t, t.Clean))
	// A backtest has the whole series: it sizes windows from it unless told.
	fs.setDefault("windows", "auto")
	if err := fs.parse(args); err != nil {
		return err
	}
	if noDrift {
		h.specs = slices.DeleteFunc(h.specs, func(s stages.Spec) bool { return s.Name == "drift" })
	}
	rows, off, topics, err := h.open(ctx, stderr)
	if err != nil {
		return err
	}
	res, err := backtest.Run(ctx, off, topics, rows)
	if err != nil {
		return err
	}
	if out == "" {
		out = strings.TrimSuffix(h.in, ".csv") + ".scored.csv"
	}
	if err := backtest.WriteScored(out, rows, res, backtest.ResultDelay(h.used.Features)); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if forecastsOut != "" {
		if err := backtest.WriteForecasts(forecastsOut, res.Forecasts); err != nil {
			return fmt.Errorf("--forecasts: %w", err)
		}
	}
	if alertsOut != "" {
		if err := backtest.WriteAlerts(alertsOut, res.Alerts); err != nil {
			return fmt.Errorf("--alerts: %w", err)
		}
	}
	if len(h.used.Forecast.Limits) > 0 {
		sensors := map[string]string{}
		for i := range rows {
			sensors[rows[i].Reading.SensorID] = rows[i].Reading.SensorType
		}
		for _, l := range h.used.Forecast.Unused(sensors) {
			name := "sensor_type " + strconv.Quote(l.SensorType)
			if l.SensorID != "" {
				name = "sensor_id " + strconv.Quote(l.SensorID)
			}
			fmt.Fprintf(stderr, "warning: --limits: the limit for %s applies to no sensor of %s\n", name, h.in)
		}
	}
	sum := res.Summarize(rows, out)
	sum.WindowSpec = h.used.Features.Windows()
	sum.ForecastsFile, sum.AlertsFile = forecastsOut, alertsOut
	if truth != "" {
		faults, err := simulate.ReadFaultsFile(truth)
		if err != nil {
			return fmt.Errorf("--truth: %w", err)
		}
		sum.Evaluate(res, faults)
	}
	sum.Print(stdout)
	if jsonOut {
		return json.NewEncoder(stdout).Encode(sum)
	}
	return nil
}
