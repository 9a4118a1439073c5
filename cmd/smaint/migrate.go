package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smaint/smaint/sinks/timescale"
)

// storageFlags are the storage settings migrate installs.
type storageFlags struct {
	mode string
	cfg  timescale.MigrateConfig
}

func (f *storageFlags) register(fs *flagSet) {
	fs.StringVar(&f.mode, "mode", "auto", "auto (TimescaleDB when the extension can be created), timescale, or plain")
	f.cfg.CompressAfter, f.cfg.Retention = 7*24*time.Hour, 180*24*time.Hour
	f.cfg.RefreshEvery, f.cfg.RefreshStart, f.cfg.RefreshEnd = 30*time.Minute, 3*time.Hour, 30*time.Minute
	fs.Var(longDuration{&f.cfg.CompressAfter}, "compress-after", "TimescaleDB: compress readings older than this")
	fs.Var(longDuration{&f.cfg.Retention}, "retention", "drop readings older than this")
	fs.Var(longDuration{&f.cfg.RefreshEvery}, "rollup-refresh-every", "TimescaleDB: refresh the hourly rollup this often")
	fs.Var(longDuration{&f.cfg.RefreshStart}, "rollup-refresh-start", "TimescaleDB: ... from this long ago")
	fs.Var(longDuration{&f.cfg.RefreshEnd}, "rollup-refresh-end", "TimescaleDB: ... to this long ago (the window must span two hours or more)")
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
	return f.cfg, f.cfg.Validate()
}

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "Usage: smaint migrate [--database-url URL] [flags]\n\nCreates or updates smaint's tables: hypertables, compression, retention and a\ncontinuous aggregate on TimescaleDB; the same tables and an hourly rollup kept by\nsmaint on plain PostgreSQL. Safe to run again: it applies only what is missing.\n", stderr)
	var (
		db      dbFlags
		sf      storageFlags
		lf      logFlags
		jsonOut bool
	)
	db.register(fs)
	sf.register(fs)
	lf.register(fs, "warn")
	fs.BoolVar(&jsonOut, "json", false, "print the result as one JSON object")
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
	if jsonOut {
		return json.NewEncoder(stdout).Encode(struct {
			Database string   `json:"database"`
			Mode     string   `json:"mode"`
			Reason   string   `json:"reason"`
			Applied  []string `json:"applied"`
			Settings []string `json:"settings_changed"`
		}{db.where(), string(res.Mode), res.Reason, nonNil(res.Applied), nonNil(res.Policies)})
	}
	fmt.Fprintf(stdout, "database %s: %s mode (%s)\n", db.where(), modeName(res.Mode), res.Reason)
	if len(res.Applied) == 0 && len(res.Policies) == 0 {
		fmt.Fprintln(stdout, "up to date: nothing to do")
	}
	if len(res.Applied) > 0 {
		fmt.Fprintf(stdout, "applied: %s\n", strings.Join(res.Applied, ", "))
	}
	if len(res.Policies) > 0 {
		fmt.Fprintf(stdout, "settings: %s\n", strings.Join(res.Policies, "; "))
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
