package forecast

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/smaint/smaint/schemas"
)

// Accuracy compares forecasts with what happened, and with the naive
// forecast (the last observed value), at their horizon.
type Accuracy struct {
	Forecasts int `json:"forecasts"` // forecasts whose horizon was observed
	Sensors   int `json:"sensors"`
	// RelMAE is the geometric mean over sensors of the forecast's MAE
	// divided by the naive forecast's: under 1 is better than naive, 0.8
	// is 20% better. Sensors whose naive MAE is 0 are left out.
	RelMAE float64 `json:"rel_mae"`
	// Better is the share of sensors whose forecast MAE is under the
	// naive one's.
	Better float64 `json:"better"`
	// Coverage is the share of outcomes inside the forecasts' 80%
	// intervals.
	Coverage float64 `json:"coverage"`
	// ByType is RelMAE by sensor type.
	ByType map[string]float64 `json:"rel_mae_by_type,omitempty"`
}

// String says how the forecasts did, for people.
func (a Accuracy) String() string {
	if a.Sensors == 0 {
		return "none reached its horizon"
	}
	return fmt.Sprintf("MAE %.3f of the naive forecast's (geometric mean over %d sensors; better on %.0f%%), 80%% intervals held %.0f%%",
		a.RelMAE, a.Sensors, 100*a.Better, 100*a.Coverage)
}

// Evaluate scores forecasts, in any order, against the values later
// forecasts of the same sensor observed: a forecast issued at T with
// horizon H is compared with the Observed of the forecast issued at T+H.
// Forecasts whose horizon nothing observed are left out.
func Evaluate(fs []schemas.Forecast) Accuracy {
	type key struct {
		id string
		at int64
	}
	observed := make(map[key]float64, len(fs))
	for i := range fs {
		observed[key{fs[i].SensorID, fs[i].IssuedAt.UnixMicro()}] = fs[i].Observed
	}
	type sums struct {
		model, naive float64
		typ          string
	}
	by := map[string]*sums{}
	var acc Accuracy
	inside := 0
	for i := range fs {
		f := &fs[i]
		truth, ok := observed[key{f.SensorID, f.IssuedAt.UnixMicro() + int64(math.Round(f.HorizonS*1e6))}]
		if !ok {
			continue
		}
		sm := by[f.SensorID]
		if sm == nil {
			sm = &sums{typ: f.SensorType}
			by[f.SensorID] = sm
		}
		sm.model += math.Abs(f.Value - truth)
		sm.naive += math.Abs(f.Observed - truth)
		acc.Forecasts++
		if truth >= f.Lower && truth <= f.Upper {
			inside++
		}
	}
	logs, better := 0.0, 0
	type typeLogs struct {
		sum float64
		n   int
	}
	byType := map[string]*typeLogs{}
	// In sensor order, so that the sums, and the result to the last bit,
	// do not depend on a map's order.
	for _, id := range slices.Sorted(maps.Keys(by)) {
		sm := by[id]
		if sm.naive == 0 {
			continue
		}
		acc.Sensors++
		l := math.Log(math.Max(sm.model, 1e-300) / sm.naive)
		logs += l
		if sm.model < sm.naive {
			better++
		}
		tl := byType[sm.typ]
		if tl == nil {
			tl = &typeLogs{}
			byType[sm.typ] = tl
		}
		tl.sum += l
		tl.n++
	}
	if acc.Sensors > 0 {
		acc.RelMAE = math.Exp(logs / float64(acc.Sensors))
		acc.Better = float64(better) / float64(acc.Sensors)
		acc.ByType = make(map[string]float64, len(byType))
		for t, tl := range byType {
			acc.ByType[t] = math.Exp(tl.sum / float64(tl.n))
		}
	}
	if acc.Forecasts > 0 {
		acc.Coverage = float64(inside) / float64(acc.Forecasts)
	}
	return acc
}
