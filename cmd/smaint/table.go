package main

import (
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/smaint/smaint/bench/backtest"
	"github.com/smaint/smaint/stages/predict"
)

// The tables train and evaluate read: CSV files with a header line, and
// what the supervised tasks take from them.

// readTable reads a CSV file with a header line, separated by commas,
// semicolons or tabs (as backtest reads them).
func readTable(path string) (predict.Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return predict.Table{}, err
	}
	r := csv.NewReader(strings.NewReader(string(b)))
	r.Comma = backtest.CommaOf(string(b))
	r.TrimLeadingSpace = true
	recs, err := r.ReadAll()
	if err != nil {
		return predict.Table{}, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) < 2 {
		return predict.Table{}, fmt.Errorf("%s: a header line and rows needed", path)
	}
	return predict.Table{Header: recs[0], Rows: recs[1:]}, nil
}

// runsOf groups t's rows into runs by unit, in time order, with channels
// (default: every other column whose cells are all numbers).
func runsOf(t predict.Table, unitCol, timeCol string, channels []string) ([]predict.Run, []string, error) {
	ui, ti := t.Column(unitCol), t.Column(timeCol)
	if ui < 0 || ti < 0 {
		return nil, nil, fmt.Errorf("no column %q or %q (have %s): set --unit-col and --time-col%s", unitCol, timeCol, strings.Join(t.Header, ", "), headerHint(t))
	}
	if len(channels) == 0 {
		for c, name := range t.Header {
			if c == ui || c == ti {
				continue
			}
			if n := t.Stray(c); n > 0 {
				return nil, nil, fmt.Errorf("row %d: %s %q is not a number, as the column's other values are (fix the row, or leave it out)", n, name, t.Rows[n-1][c])
			}
			if t.Numeric(c) {
				channels = append(channels, name)
			}
		}
	}
	idx := make([]int, len(channels))
	for k, ch := range channels {
		if idx[k] = t.Column(ch); idx[k] < 0 {
			return nil, nil, fmt.Errorf("no channel column %q", ch)
		}
	}
	var runs []predict.Run
	at := map[string]int{}
	for n, r := range t.Rows {
		tm, err := strconv.ParseFloat(r[ti], 64)
		if err != nil {
			return nil, nil, fmt.Errorf("row %d: %s %q is not a number", n+1, timeCol, r[ti])
		}
		v := make([]float64, len(idx))
		for k, c := range idx {
			if v[k], err = strconv.ParseFloat(r[c], 64); err != nil {
				return nil, nil, fmt.Errorf("row %d: %s %q is not a number", n+1, channels[k], r[c])
			}
		}
		i, ok := at[r[ui]]
		if !ok {
			i = len(runs)
			at[r[ui]] = i
			runs = append(runs, predict.Run{Unit: r[ui]})
		}
		run := &runs[i]
		if len(run.Times) > 0 && tm <= run.Times[len(run.Times)-1] {
			return nil, nil, fmt.Errorf("row %d: unit %s goes back in time (%v after %v)", n+1, r[ui], tm, run.Times[len(run.Times)-1])
		}
		run.Times, run.Values = append(run.Times, tm), append(run.Values, v)
	}
	return runs, channels, nil
}

// defaultInputs are the columns of header that are not labels nor ids.
func defaultInputs(header []string, labels []string) []string {
	var out []string
	for _, h := range header {
		l := strings.ToLower(h)
		if slices.Contains(labels, h) || l == "id" || strings.HasSuffix(l, " id") || strings.HasSuffix(l, "_id") || l == "udi" {
			continue
		}
		out = append(out, h)
	}
	return out
}

// labelLike returns the inputs of t that look like labels of labels: a
// column of 0 and 1 that is 1 only on rows where some label is non-zero
// (a failure mode beside the failure class it makes up). Given as inputs,
// such a column tells the model the answer.
func labelLike(t predict.Table, inputs, labels []string) []string {
	var out []string
	for _, in := range inputs {
		c, ones := t.Column(in), 0
		if c < 0 {
			continue
		}
		explained := map[int]int{} // by label column: the rows with a 1 where it is non-zero
		binary := true
		for _, r := range t.Rows {
			v := strings.TrimSpace(r[c])
			if v != "0" && v != "1" {
				binary = false
				break
			}
			if v == "0" {
				continue
			}
			ones++
			for _, l := range labels {
				if lc := t.Column(l); lc >= 0 {
					if x, err := strconv.ParseFloat(strings.TrimSpace(r[lc]), 64); err == nil && x != 0 {
						explained[lc]++
					}
				}
			}
		}
		if !binary || ones == 0 {
			continue
		}
		for _, n := range explained {
			if n == ones {
				out = append(out, in)
				break
			}
		}
	}
	return out
}

func truthByUnit(t predict.Table, unitCol, valueCol string) (map[string]float64, error) {
	ui, vi := t.Column(unitCol), t.Column(valueCol)
	if ui < 0 || vi < 0 {
		return nil, fmt.Errorf("no column %q or %q (have %s)%s", unitCol, valueCol, strings.Join(t.Header, ", "), headerHint(t))
	}
	out := map[string]float64{}
	for n, r := range t.Rows {
		v, err := strconv.ParseFloat(r[vi], 64)
		if err != nil {
			return nil, fmt.Errorf("row %d: %q is not a number", n+1, r[vi])
		}
		out[r[ui]] = v
	}
	return out, nil
}

// headerHint explains a header that is not one: a first line that is one
// column with spaces in it (a space-separated file), or that has numbers
// where the first row has them (a file without a header line, its first
// row read as the header). "" when the header looks like names.
func headerHint(t predict.Table) string {
	if len(t.Header) == 1 && len(strings.Fields(t.Header[0])) > 1 {
		return "; the file has one column: smaint reads files separated by commas, semicolons or tabs, whose first line names the columns"
	}
	number := func(cell string) bool {
		v, err := strconv.ParseFloat(strings.TrimSpace(cell), 64)
		return err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
	}
	if len(t.Rows) == 0 || len(t.Rows[0]) != len(t.Header) {
		return ""
	}
	numbers := 0
	for i, h := range t.Header {
		if number(h) != number(t.Rows[0][i]) {
			return ""
		}
		if number(h) {
			numbers++
		}
	}
	if numbers == 0 {
		return ""
	}
	return "; the first line, read as the header, holds numbers: give the file a header line naming its columns"
}
