package demo

import "github.com/smaint/smaint/stages/forecast"

// PlantLimits are the simulated plant's failure limits, as its operators
// would write them in a --limits file: the demo forecasts against them
// unless given others, and "smaint simulate --limits FILE" writes them
// for a backtest of the simulator's output.
//
// Vibration and acoustic sensors have absolute limits on the standard
// deviation of their signal (the RMS of its vibrating part): 2.8 mm/s is
// the zone B/C boundary of ISO 10816-3 for medium machines on rigid
// foundations, where long unrestricted running ends; the simulated
// machines run at about 1.6 mm/s. The others have a limit on their rise
// above their usual level, as bearing-temperature and current-draw
// alarms often are (their absolute level follows the time of day): five
// of the simulator's typical spreads, which a degradation passes on its
// way to its peak of six to eight.
func PlantLimits() []forecast.Limit {
	v := func(x float64) *float64 { return &x }
	return []forecast.Limit{
		{SensorType: "vibration", Feature: "std", Above: v(2.8), Unit: "mm/s"},
		{SensorType: "acoustic", Feature: "std", Above: v(0.7), Unit: "Pa"},
		{SensorType: "temperature", Feature: "mean", Rise: v(1.5), Unit: "C"},
		{SensorType: "pressure", Feature: "mean", Rise: v(0.15), Unit: "bar"},
		{SensorType: "current", Feature: "mean", Rise: v(1.0), Unit: "A"},
		{SensorType: "humidity", Feature: "mean", Rise: v(2.5), Unit: "%RH"},
	}
}
