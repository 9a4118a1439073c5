package backtest

import (
	"encoding/csv"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/smaint/smaint/schemas"
)

// ForecastsHeader is the first line of a forecasts file: the Forecast
// record's fields.
var ForecastsHeader = []string{"sensor_id", "asset_id", "sensor_type", "feature", "issued_at", "horizon_s", "observed", "level",
	"trend_per_hour", "value", "lower", "upper", "limit_direction", "limit", "crosses_in_s", "crosses_earliest_s", "crosses_latest_s", "model"}

// WriteForecasts writes forecasts to path as CSV, in full precision.
func WriteForecasts(path string, fs []schemas.Forecast) error {
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return writeCSV(path, ForecastsHeader, func(write func([]string)) {
		for i := range fs {
			x := &fs[i]
			write([]string{x.SensorID, x.AssetID, x.SensorType, x.Feature, x.IssuedAt.Format(time.RFC3339Nano), num(x.HorizonS), num(x.Observed),
				num(x.Level), num(x.TrendPerHour), num(x.Value), num(x.Lower), num(x.Upper), x.LimitDirection, num(x.Limit),
				num(x.CrossesInS), num(x.CrossesEarliestS), num(x.CrossesLatestS), x.Model})
		}
	})
}

// ReadForecasts reads a file WriteForecasts wrote.
func ReadForecasts(path string) ([]schemas.Forecast, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(recs) == 0 || len(recs[0]) != len(ForecastsHeader) || recs[0][0] != ForecastsHeader[0] {
		return nil, fmt.Errorf("%s: not a forecasts file (want the header %v)", path, ForecastsHeader)
	}
	out := make([]schemas.Forecast, 0, len(recs)-1)
	for n, r := range recs[1:] {
		var x schemas.Forecast
		var err error
		x.SensorID, x.AssetID, x.SensorType, x.Feature, x.LimitDirection, x.Model = r[0], r[1], r[2], r[3], r[12], r[17]
		x.IssuedAt, err = time.Parse(time.RFC3339Nano, r[4])
		for i, dst := range []*float64{&x.HorizonS, &x.Observed, &x.Level, &x.TrendPerHour, &x.Value, &x.Lower, &x.Upper} {
			if err == nil {
				*dst, err = strconv.ParseFloat(r[5+i], 64)
			}
		}
		for i, dst := range []*float64{&x.Limit, &x.CrossesInS, &x.CrossesEarliestS, &x.CrossesLatestS} {
			if err == nil {
				*dst, err = strconv.ParseFloat(r[13+i], 64)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n+2, err)
		}
		out = append(out, x)
	}
	return out, nil
}
