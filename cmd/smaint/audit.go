package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/smaint/smaint/pipeline/audit"
	"github.com/smaint/smaint/sinks/timescale"
)

// errAuditFailed is the error of an audit that found problems: exit 1.
var errAuditFailed = errors.New("the audit found readings lost, outputs duplicated or windows over-counted")

func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit", "Usage: smaint audit --brokers HOST:PORT [--database-url URL] [flags]\n\n"+
		"Reads every pipeline topic (committed records, from their start) and, with a database,\n"+
		"the stored readings, and reports per stage the readings lost, the outputs written twice\n"+
		"and the windows that counted a reading twice, against the readings topic.\n"+
		"Exits 0 when it finds none, 1 when it finds some.\n", stderr)
	var (
		kf      kafkaFlags
		db      dbFlags
		jsonOut bool
		timeout time.Duration
	)
	kf.register(fs)
	db.register(fs)
	fs.BoolVar(&jsonOut, "json", false, "print the report as one JSON object")
	fs.DurationVar(&timeout, "timeout", 10*time.Minute, "give up reading after this long")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := kf.validate(); err != nil {
		return err
	}
	opts, err := kf.cfg.Opts()
	if err != nil {
		return err
	}
	serde, err := kf.cfg.Serde()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	topics, err := kf.names.topics()
	if err != nil {
		return err
	}
	cfg := audit.Config{Topics: topics, Serde: serde}
	if db.given() {
		pool, err := db.connect(ctx, "smaint-audit")
		if err != nil {
			return err
		}
		defer pool.Close()
		cfg.Stored = func(ctx context.Context, from, to time.Time) (map[string]bool, error) {
			return timescale.ReadingIDs(ctx, pool, from, to)
		}
	}
	rep, err := audit.Run(ctx, audit.Kafka(opts...), cfg)
	if err != nil {
		return err
	}
	if jsonOut {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		rep.Print(stdout)
	}
	if !rep.OK() {
		return errAuditFailed
	}
	return nil
}
