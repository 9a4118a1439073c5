package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/smaint/smaint/sinks/timescale"
)

// storageFlags are the storage settings migrate installs.
type storageFlags struct {
	mode string
	cfg  timescale.MigrateConfig
}

func (f *storageFlags) register(fs *flagSet) {
	fs.StringVar(&f.mode, "mode", "auto", "auto (TimescaleDB when the extension can be created), timescale, or plain")
	f.cfg = timescale.MigrateConfig{}.WithDefaults()
	f.cfg.RefreshStart = 0 // follows --retention unless given
	fs.Var(longDuration{&f.cfg.CompressAfter}, "compress-after", "TimescaleDB: compress readings older than this")
	fs.Var(longDuration{&f.cfg.Retention}, "retention", "drop readings older than this")
	fs.Var(longDuration{&f.cfg.RefreshEvery}, "rollup-refresh-every", "TimescaleDB: refresh the hourly rollup this often")
	fs.Var(longDuration{&f.cfg.RefreshStart}, "rollup-refresh-start", "TimescaleDB: ... from this long ago: as far back as readings may arrive late, and less than --retention (default --retention less a day)")
	fs.Var(longDuration{&f.cfg.RefreshEnd}, "rollup-refresh-end", "TimescaleDB: ... to this long ago (the window must span two hours or more)")
	fs.StringVar(&f.cfg.ExtensionSchema, "extension-schema", f.cfg.ExtensionSchema, "TimescaleDB: the schema a first migrate creates the extension in (one already installed stays where it is)")
}

func (f *storageFlags) config() (timescale.MigrateConfig, error) {
	switch f.mode {
	case "auto":
		f.cfg.Mode = ""
	case "timescale", "plain":
		f.cfg.Mode = timescale.Mode(f.mode)
	default:
		return f.cfg, fmt.Errorf("%w: --mode %q (want auto, timescale or plain)", errUsage, f.mode)
	}
	cfg := f.cfg.WithDefaults()
	return cfg, cfg.Validate()
}

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "Usage: smaint migrate [--database-url URL] [flags]\n\nCreates or updates smaint's tables: hypertables, compression, retention and a\ncontinuous aggregate on TimescaleDB; the same tables and an hourly rollup kept by\nsmaint on plain PostgreSQL. Safe to run again: it applies only what is missing.\n", stderr)
	var (
		db      dbFlags
		sf      storageFlags
		lf      logFlags
		jsonOut bool
		run     bool
	)
	db.register(fs)
	sf.register(fs)
	lf.register(fs, "warn")
	fs.BoolVar(&jsonOut, "json", false, "print the result as one JSON object")
	fs.BoolVar(&run, "run-policies", false, "then run the storage policies once, now: TimescaleDB's compression, retention and rollup refresh jobs, or plain mode's rollup compaction and retention")
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg, err := sf.config()
	if err != nil {
		return err
	}
	if cfg.Logger, err = lf.logger(stderr); err != nil {
		return err
	}
	pool, err := db.connect(ctx, "smaint-migrate")
	if err != nil {
		return err
	}
	defer pool.Close()
	res, err := timescale.Migrate(ctx, pool, cfg)
	if err != nil {
		return err
	}
	rep := res.Report(timescale.Where(db.url))
	if run {
		if rep.Ran, err = timescale.RunPolicies(ctx, pool); err != nil {
			return err
		}
	}
	if jsonOut {
		return json.NewEncoder(stdout).Encode(rep)
	}
	rep.Print(stdout)
	return nil
}
