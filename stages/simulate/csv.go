package simulate

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"time"
)

// CSVHeader is the first line WriteCSV writes: the columns backtest reads
// by default.
const CSVHeader = "timestamp,sensor_id,asset_id,sensor_type,value,unit"

// WriteCSV writes the valid readings of the rest of the simulation, in the
// order they would be sent, as CSV with CSVHeader, until limit rows (0: no
// limit) or the simulation's end, and returns how many rows it wrote.
// Duplicates and malformed records are left out: a CSV of history holds
// what a store kept.
func (s *Sim) WriteCSV(ctx context.Context, w io.Writer, limit int64) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	_, _ = bw.WriteString(CSVHeader + "\n")
	var rows int64
	var buf []byte
	err := s.Run(ctx, func(ev Event) error {
		if ev.Kind != KindReading {
			return nil
		}
		if limit > 0 && rows >= limit {
			return errEnough
		}
		r := &ev.Reading
		buf = r.TS.AppendFormat(buf[:0], time.RFC3339Nano)
		for _, f := range []string{r.SensorID, r.AssetID, r.SensorType} {
			buf = append(append(buf, ','), f...)
		}
		buf = strconv.AppendFloat(append(buf, ','), r.Value, 'g', -1, 64)
		buf = append(append(append(buf, ','), r.Unit...), '\n')
		rows++
		_, err := bw.Write(buf)
		return err
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return rows, err
}

var errEnough = errors.New("enough rows")

// WriteCSVFile is WriteCSV to a file it creates at path.
func (s *Sim) WriteCSVFile(ctx context.Context, path string, limit int64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	rows, err := s.WriteCSV(ctx, f, limit)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return rows, err
}
