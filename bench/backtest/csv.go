package backtest

import (
	"bufio"
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
// WithDefaults, reads the columns "smaint simulate --csv" writes, and
// files of one value column with only a time beside it.
type Format struct {
	TimeCol string
	// ValueCols are the columns of values. With one, each line is a
	// reading of the sensor its SensorCol names (or Sensor). With several
	// (a wide file: one column per sensor, as a data logger writes), each
	// line is a reading of each, and each column is a sensor named after
	// it.
	ValueCols                    []string
	SensorCol, TypeCol, AssetCol string
	// Sensor, Type and Asset stand in for absent columns.
	Sensor, Type, Asset, Unit string
	// TimeFormat is rfc3339, unix, unixms, unixus, a Go layout, or auto
	// (the default): RFC 3339, "2006-01-02 15:04:05" (with or without
	// fractions, T or a space, a zone or UTC), or unix seconds,
	// milliseconds or microseconds by magnitude, judged from the first
	// line.
	TimeFormat string
	// Comma separates the fields; 0 takes ';' or a tab when the header has
	// more of them than commas, else ','.
	Comma rune
}

// GenericType is the sensor type of readings whose file says none.
const GenericType = "generic"

// WithDefaults returns f with every unset field at its default.
func (f Format) WithDefaults() Format {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&f.TimeCol, "timestamp")
	if len(f.ValueCols) == 0 {
		f.ValueCols = []string{"value"}
	}
	def(&f.SensorCol, "sensor_id")
	def(&f.TypeCol, "sensor_type")
	def(&f.AssetCol, "asset_id")
	def(&f.Sensor, "sensor")
	def(&f.Type, GenericType)
	def(&f.Asset, "asset")
	def(&f.TimeFormat, "auto")
	return f
}

// Row is one reading of the input, in file order: a line, or with several
// value columns, one of a line's values.
type Row struct {
	Line    int
	Reading schemas.SensorReading
}

// ReadCSV reads the readings of the CSV file at path, which has a header
// row. A line it cannot read is an error naming the line: a backtest of
// data it silently skipped would mislead.
func ReadCSV(path string, f Format) ([]Row, error) {
	f = f.WithDefaults()
	var cols columns
	var rows []Row
	times := timeReader{format: f.TimeFormat}
	err := eachLine(path, f.Comma, func(header []string) (err error) {
		cols, err = f.columns(path, header)
		return err
	}, func(rec []string, line int) (err error) {
		rows, err = f.appendLine(rows, cols, &times, rec, line)
		return err
	})
	if err == nil && len(rows) == 0 {
		err = fmt.Errorf("%w: %s has no rows", ErrFormat, path)
	}
	return rows, err
}

// eachLine reads the CSV file at path, with comma as separator (0: the one
// its header uses most, see CommaOf): header gets the header row, then
// line every record with its line number. An error of line's names the
// line.
func eachLine(path string, comma rune, header func([]string) error, line func(rec []string, n int) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	br := bufio.NewReader(file)
	if comma == 0 {
		first, _ := br.Peek(4096)
		comma = CommaOf(string(first))
	}
	cr := csv.NewReader(br)
	cr.Comma, cr.ReuseRecord = comma, true
	head, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%s: header: %w", path, err)
	}
	for i := range head {
		head[i] = strings.TrimSpace(strings.TrimPrefix(head[i], "\ufeff"))
	}
	if err := header(head); err != nil {
		return err
	}
	for n := 2; ; n++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := line(rec, n); err != nil {
			return fmt.Errorf("%s line %d: %w", path, n, err)
		}
	}
}

// timeReader parses a file's event times in format, which "auto" settles
// from the first time it reads (see Format.TimeFormat).
type timeReader struct{ format string }

func (r *timeReader) parse(raw string) (time.Time, error) {
	raw = strings.TrimSpace(raw)
	if r.format == "auto" || r.format == "" {
		f, err := detectTimeFormat(raw)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q: %w", raw, err)
		}
		r.format = f
	}
	t, err := parseTime(raw, r.format)
	if err != nil {
		return t, fmt.Errorf("%q: %w", raw, err)
	}
	return t, nil
}

// columns are where a file's fields are: the time's, the values', and the
// other columns' by name.
type columns struct {
	time   int
	values []int
	byName map[string]int
}

func (f *Format) columns(path string, header []string) (columns, error) {
	c := columns{byName: map[string]int{}}
	for i, h := range header {
		c.byName[h] = i
	}
	var ok bool
	if c.time, ok = c.byName[f.TimeCol]; !ok {
		return c, fmt.Errorf("%w: %s has no time column %q (columns: %s)", ErrFormat, path, f.TimeCol, strings.Join(header, ", "))
	}
	for _, v := range f.ValueCols {
		i, ok := c.byName[v]
		if !ok {
			return c, fmt.Errorf("%w: %s has no value column %q (columns: %s)", ErrFormat, path, v, strings.Join(header, ", "))
		}
		c.values = append(c.values, i)
	}
	return c, nil
}

// appendLine appends the readings of one line.
func (f *Format) appendLine(rows []Row, c columns, times *timeReader, rec []string, line int) ([]Row, error) {
	field := func(name, def string) string {
		if i, ok := c.byName[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return def
	}
	ts, err := times.parse(rec[c.time])
	if err != nil {
		return rows, fmt.Errorf("%s %w", f.TimeCol, err)
	}
	for k, i := range c.values {
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = errors.New("not a finite number")
		}
		if err != nil {
			return rows, fmt.Errorf("%s %q: %w", f.ValueCols[k], rec[i], err)
		}
		sensor := field(f.SensorCol, f.Sensor)
		if len(c.values) > 1 {
			sensor = f.ValueCols[k]
		}
		rows = append(rows, Row{Line: line, Reading: schemas.SensorReading{
			ReadingID: strconv.Itoa(line) + "/" + strconv.Itoa(k), SensorID: sensor, AssetID: field(f.AssetCol, f.Asset),
			SensorType: field(f.TypeCol, f.Type), TS: ts, Value: v, Unit: f.Unit, Quality: 100}})
	}
	return rows, nil
}

// CommaOf is the separator a header line uses: ';' or a tab if it has
// more of one than of commas, else ','.
func CommaOf(head string) rune {
	head, _, _ = strings.Cut(head, "\n")
	best, n := ',', strings.Count(head, ",")
	for _, r := range []rune{';', '\t'} {
		if c := strings.Count(head, string(r)); c > n {
			best, n = r, c
		}
	}
	return best
}

// timeLayouts are the layouts auto tries, in order.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"}

// detectTimeFormat returns the format of an event time as written.
func detectTimeFormat(s string) (string, error) {
	for _, l := range timeLayouts {
		if _, err := time.Parse(l, s); err == nil {
			if l == time.RFC3339Nano {
				return "rfc3339", nil
			}
			return l, nil
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		return "", errors.New("not a time this reader knows (RFC 3339, 2006-01-02 15:04:05, unix seconds, ms or µs); give --time-format")
	case math.Abs(v) < 1e11: // seconds until the year 5138
		return "unix", nil
	case math.Abs(v) < 1e14:
		return "unixms", nil
	}
	return "unixus", nil
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

// writeCSV writes a CSV file at path: header, then the records rows
// gives to write, in order.
func writeCSV(path string, header []string, rows func(write func([]string))) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(header) // a write error stays in w, for w.Error
	rows(func(rec []string) { _ = w.Write(rec) })
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
