package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/smaint/smaint/sinks/timescale"
)

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", "Usage: smaint export --output FILE.csv [flags]\n\nWrites stored rows to a CSV file with PostgreSQL's COPY, in time order, times in\nUTC. --incremental appends only rows newer than the last run's, remembering the\nposition in FILE.csv.state; it stops --settle before now so that rows still\narriving for the last minutes are picked up by the next run.\n", stderr)
	var (
		db  dbFlags
		lf  logFlags
		exp = timescale.FileExport{}.WithDefaults()
	)
	db.register(fs)
	lf.register(fs, "warn")
	fs.StringVar(&exp.Path, "output", "", "CSV file to write (required)")
	fs.StringVar(&exp.Table, "table", exp.Table, "what to export: "+strings.Join(timescale.ExportTables(), ", "))
	fs.BoolVar(&exp.Incremental, "incremental", false, "append only rows newer than the previous export to this file")
	fs.Var(timeFlag{&exp.Since}, "since", "rows at or after this time (RFC 3339 or YYYY-MM-DD)")
	fs.Var(timeFlag{&exp.Until}, "until", "rows before this time (RFC 3339 or YYYY-MM-DD)")
	fs.StringVar(&exp.Sensor, "sensor", "", "only this sensor id")
	fs.DurationVar(&exp.Settle, "settle", exp.Settle, "--incremental: stop this long before now")
	if err := fs.parse(args); err != nil {
		return err
	}
	if exp.Path == "" {
		return fmt.Errorf("%w: --output is required", errUsage)
	}
	if err := positiveDuration("settle", exp.Settle); err != nil {
		return err
	}
	if _, err := lf.logger(stderr); err != nil {
		return err
	}
	pool, err := db.connect(ctx, "smaint-export")
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := exp.Run(ctx, pool)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(res)
}
