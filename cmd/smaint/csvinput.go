package main

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

	"github.com/smaint/smaint/schemas"
)

// csvFlags say how to read the input CSV.
type csvFlags struct {
	in                                              string
	timeCol, valueCol, sensorCol, typeCol, assetCol string
	sensor, sensorType, asset, unit                 string
	timeFormat                                      string
}

func (f *csvFlags) register(fs *flagSet) {
	fs.StringVar(&f.in, "csv", "", "input CSV with a header row")
	fs.StringVar(&f.timeCol, "time-col", "timestamp", "column of the event time")
	fs.StringVar(&f.valueCol, "value-col", "value", "column of the value")
	fs.StringVar(&f.sensorCol, "sensor-col", "sensor_id", "column of the sensor id (if absent, --sensor)")
	fs.StringVar(&f.typeCol, "type-col", "sensor_type", "column of the sensor type (if absent, --type)")
	fs.StringVar(&f.assetCol, "asset-col", "asset_id", "column of the asset id (if absent, --asset)")
	fs.StringVar(&f.sensor, "sensor", "sensor", "sensor id for a file without a sensor column")
	fs.StringVar(&f.sensorType, "type", "", "sensor type for a file without a type column (e.g. vibration)")
	fs.StringVar(&f.asset, "asset", "asset", "asset id for a file without an asset column")
	fs.StringVar(&f.unit, "unit", "", "unit of the values")
	fs.StringVar(&f.timeFormat, "time-format", "rfc3339", "event time format: rfc3339, unix, unixms, unixus, or a Go layout")
}

// row is one input line, in file order.
type row struct {
	line int
	r    schemas.SensorReading
}

// read parses the input. Unreadable lines are errors naming the line: a
// backtest of data it silently skipped would mislead.
func (f *csvFlags) read() ([]row, error) {
	file, err := os.Open(f.in)
	if err != nil {
		return nil, fmt.Errorf("--csv: %w", err)
	}
	defer file.Close()
	cr := csv.NewReader(file)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", f.in, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	ti, ok1 := col[f.timeCol]
	vi, ok2 := col[f.valueCol]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: %s has no column %q or %q (columns: %s)", errUsage, f.in, f.timeCol, f.valueCol, strings.Join(header, ", "))
	}
	field := func(rec []string, name, def string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return def
	}
	if _, ok := col[f.typeCol]; !ok && f.sensorType == "" {
		return nil, fmt.Errorf("%w: %s has no %q column: give the sensor type with --type", errUsage, f.in, f.typeCol)
	}
	var rows []row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.in, err)
		}
		ts, err := parseTime(strings.TrimSpace(rec[ti]), f.timeFormat)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %s %q: %w", f.in, line, f.timeCol, rec[ti], err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[vi]), 64)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = errors.New("not a finite number")
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %s %q: %w", f.in, line, f.valueCol, rec[vi], err)
		}
		rows = append(rows, row{line: line, r: schemas.SensorReading{
			ReadingID: strconv.Itoa(line), SensorID: field(rec, f.sensorCol, f.sensor), AssetID: field(rec, f.assetCol, f.asset),
			SensorType: field(rec, f.typeCol, f.sensorType), TS: ts, Value: v, Unit: f.unit, Quality: 100}})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: %s has no rows", errUsage, f.in)
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

// inEventOrder returns the rows' readings sorted by event time, rows of
// equal time in file order: the order a stream without lateness sees.
func inEventOrder(rows []row) []schemas.SensorReading {
	sorted := make([]schemas.SensorReading, len(rows))
	for i := range rows {
		sorted[i] = rows[i].r
	}
	slices.SortStableFunc(sorted, func(a, b schemas.SensorReading) int { return a.TS.Compare(b.TS) })
	return sorted
}
