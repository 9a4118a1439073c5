package backtest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// ErrFormat means a CSV file cannot be read as the Format says: a column
// missing, no rows. It wraps pipeline.ErrConfig: the fix is in the
// command line. A bad line is a plain error naming the line.
var ErrFormat = fmt.Errorf("%w: csv", pipeline.ErrConfig)

// Format says how to read a CSV file of readings: which columns hold
// what, and what to use where a column is absent. The zero value, after
// WithDefaults, reads the columns "smaint simulate --csv" writes.
type Format struct {
	TimeCol, ValueCol, SensorCol, TypeCol, AssetCol string
	// Sensor, Type and Asset stand in for absent columns (a file of one
	// sensor); Type is required when there is no type column.
	Sensor, Type, Asset, Unit string
	// TimeFormat is rfc3339, unix, unixms, unixus, or a Go layout.
	TimeFormat string
}

// WithDefaults returns f with every unset field at its default.
func (f Format) WithDefaults() Format {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&f.TimeCol, "timestamp")
	def(&f.ValueCol, "value")
	def(&f.SensorCol, "sensor_id")
	def(&f.TypeCol, "sensor_type")
	def(&f.AssetCol, "asset_id")
	def(&f.Sensor, "sensor")
	def(&f.Asset, "asset")
	def(&f.TimeFormat, "rfc3339")
	return f
}

// Row is one line of input, in file order.
type Row struct {
	Line    int
	Reading schemas.SensorReading
}

// ReadCSV reads the readings of the CSV file at path, which has a header
// row. A line it cannot read is an error naming the line: a backtest of
// data it silently skipped would mislead.
func ReadCSV(path string, f Format) ([]Row, error) {
	f = f.WithDefaults()
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	cr := csv.NewReader(file)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	ti, ok1 := col[f.TimeCol]
	vi, ok2 := col[f.ValueCol]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: %s has no column %q or %q (columns: %s)", ErrFormat, path, f.TimeCol, f.ValueCol, strings.Join(header, ", "))
	}
	if _, ok := col[f.TypeCol]; !ok && f.Type == "" {
		return nil, fmt.Errorf("%w: %s has no %q column: give the sensor type with --type", ErrFormat, path, f.TypeCol)
	}
	field := func(rec []string, name, def string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return def
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		ts, err := parseTime(strings.TrimSpace(rec[ti]), f.TimeFormat)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %s %q: %w", path, line, f.TimeCol, rec[ti], err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[vi]), 64)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = errors.New("not a finite number")
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %s %q: %w", path, line, f.ValueCol, rec[vi], err)
		}
		rows = append(rows, Row{Line: line, Reading: schemas.SensorReading{
			ReadingID: strconv.Itoa(line), SensorID: field(rec, f.SensorCol, f.Sensor), AssetID: field(rec, f.AssetCol, f.Asset),
			SensorType: field(rec, f.TypeCol, f.Type), TS: ts, Value: v, Unit: f.Unit, Quality: 100}})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: %s has no rows", ErrFormat, path)
	}
	return rows, nil
}

func parseTime(s, format string) (time.Time, error) {
	unix := func(scale int64) (time.Time, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, err
		}
		return time.UnixMicro(int64(v * float64(1_000_000/scale))).UTC(), nil
	}
	switch format {
	case "rfc3339", "":
		return time.Parse(time.RFC3339Nano, s)
	case "unix":
		return unix(1)
	case "unixms":
		return unix(1000)
	case "unixus":
		return unix(1_000_000)
	}
	return time.Parse(format, s)
}

// InEventOrder returns the rows' readings sorted by event time, rows of
// equal time in file order: the order a stream without lateness sees.
func InEventOrder(rows []Row) []schemas.SensorReading {
	sorted := make([]schemas.SensorReading, len(rows))
	for i := range rows {
		sorted[i] = rows[i].Reading
	}
	slices.SortStableFunc(sorted, func(a, b schemas.SensorReading) int { return a.TS.Compare(b.TS) })
	return sorted
}
