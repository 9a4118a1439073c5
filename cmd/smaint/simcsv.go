package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/smaint/smaint/stages/simulate"
)

// simulateCSV writes the simulator's valid readings, in the order they
// would be sent, as CSV with the columns backtest reads by default.
// Duplicates and malformed records are left out: a CSV of history holds
// what a store kept.
func simulateCSV(ctx context.Context, path string, sf *simFlags, limit int64, stdout io.Writer) error {
	sim, closeTruth, err := sf.open()
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		closeTruth()
		return fmt.Errorf("--csv: %w", err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	_, _ = w.WriteString("timestamp,sensor_id,asset_id,sensor_type,value,unit\n")
	var rows int64
	var buf []byte
	err = sim.Run(ctx, func(ev simulate.Event) error {
		if ev.Kind != simulate.KindReading {
			return nil
		}
		if limit > 0 && rows >= limit {
			return errStopSim
		}
		r := &ev.Reading
		buf = r.TS.AppendFormat(buf[:0], time.RFC3339Nano)
		buf = append(buf, ',')
		buf = append(buf, r.SensorID...)
		buf = append(buf, ',')
		buf = append(buf, r.AssetID...)
		buf = append(buf, ',')
		buf = append(buf, r.SensorType...)
		buf = append(buf, ',')
		buf = strconv.AppendFloat(buf, r.Value, 'g', -1, 64)
		buf = append(buf, ',')
		buf = append(buf, r.Unit...)
		buf = append(buf, '\n')
		rows++
		_, err := w.Write(buf)
		return err
	})
	if errors.Is(err, errStopSim) {
		err = nil
	}
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if terr := closeTruth(); err == nil {
		err = terr
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(struct {
		Rows        int64  `json:"rows"`
		File        string `json:"file"`
		EventsUntil string `json:"event_time_reached"`
		Stats       any    `json:"injected"`
	}{rows, path, sim.EventTime().Format(time.RFC3339), sim.Stats()})
}

var errStopSim = errors.New("enough rows")
