package timescale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/pipeline"
)

// FileExport writes an export to a file. Incremental exports append to
// the file only the rows newer than the last run's, and remember where
// they stopped in Path + ".state".
//
// The position is event time: each run exports [previous until, until)
// with until = now − Settle, so rows stored up to Settle after their event
// time are included; a row stored later than that for a time already
// exported is not. A run that fails midway leaves the state as it was; the
// next run first cuts the file back to the length the state recorded, so a
// partial append never doubles rows.
type FileExport struct {
	ExportConfig
	Path        string
	Incremental bool
	Settle      time.Duration // incremental: how far behind now to stop (default 1 min)
	Clock       pipeline.Clock
}

// FileExportResult says what a FileExport wrote.
type FileExportResult struct {
	Rows     int64     `json:"rows"`
	Since    time.Time `json:"since,omitzero"`
	Until    time.Time `json:"until,omitzero"`
	Appended bool      `json:"appended"`
	File     string    `json:"file"`
}

// exportState is the incremental position, in Path + ".state".
type exportState struct {
	Table  string    `json:"table"`
	Sensor string    `json:"sensor,omitempty"`
	Until  time.Time `json:"until"`
	Size   int64     `json:"size"` // the file's length after the run
}

// WithDefaults returns f with every unset field at its default.
func (f FileExport) WithDefaults() FileExport {
	if f.Table == "" {
		f.Table = "readings"
	}
	if f.Settle == 0 {
		f.Settle = time.Minute
	}
	if f.Clock == nil {
		f.Clock = pipeline.SystemClock{}
	}
	return f
}

// Run performs the export.
func (f FileExport) Run(ctx context.Context, pool *pgxpool.Pool) (FileExportResult, error) {
	f = f.WithDefaults()
	res := FileExportResult{File: f.Path}
	if !f.Incremental {
		file, err := os.Create(f.Path)
		if err != nil {
			return res, err
		}
		f.Header = true
		res.Rows, err = Export(ctx, pool, f.ExportConfig, file)
		if cerr := file.Close(); err == nil {
			err = cerr
		}
		res.Since, res.Until = f.Since, f.Until
		return res, err
	}

	statePath := f.Path + ".state"
	var st exportState
	b, err := os.ReadFile(statePath)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &st); err != nil {
			return res, fmt.Errorf("%w: %s is unreadable (%v); remove it to start over", ErrExport, statePath, err)
		}
		if st.Table != f.Table || st.Sensor != f.Sensor {
			return res, fmt.Errorf("%w: %s exported table %q sensor %q; this run asks for %q %q", ErrExport, f.Path, st.Table, st.Sensor, f.Table, f.Sensor)
		}
		if !f.Since.IsZero() {
			return res, fmt.Errorf("%w: --since with an incremental export that has a position (%s); remove %s to start over", ErrExport, st.Until.Format(time.RFC3339), statePath)
		}
		f.Since = st.Until
	case errors.Is(err, os.ErrNotExist):
		st = exportState{Table: f.Table, Sensor: f.Sensor}
	default:
		return res, err
	}
	until := f.Clock.Now().Add(-f.Settle)
	if !f.Until.IsZero() && f.Until.Before(until) {
		until = f.Until
	}
	res.Since, res.Until = f.Since, until
	if !f.Since.IsZero() && !f.Since.Before(until) {
		return res, nil // nothing new yet
	}
	f.Until = until

	file, err := os.OpenFile(f.Path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return res, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return res, err
	}
	switch {
	case info.Size() > st.Size && st.Size > 0:
		// A run that failed after appending: drop its rows.
		if err := file.Truncate(st.Size); err != nil {
			return res, err
		}
	case info.Size() > 0 && st.Size == 0:
		return res, fmt.Errorf("%w: %s exists but has no export position; remove it or export elsewhere", ErrExport, f.Path)
	case info.Size() < st.Size:
		return res, fmt.Errorf("%w: %s is shorter than the last export left it; remove %s to start over", ErrExport, f.Path, statePath)
	}
	if _, err := file.Seek(st.Size, 0); err != nil {
		return res, err
	}
	f.Header = st.Size == 0
	res.Appended = st.Size > 0
	res.Rows, err = Export(ctx, pool, f.ExportConfig, file)
	if err != nil {
		return res, err
	}
	if err := file.Sync(); err != nil {
		return res, err
	}
	size, err := file.Seek(0, 1)
	if err != nil {
		return res, err
	}
	st.Until, st.Size = until, size
	b, err = json.Marshal(st)
	if err != nil {
		return res, err
	}
	tmp := statePath + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return res, err
	}
	return res, os.Rename(tmp, statePath)
}
