package backtest

import (
	"strconv"
	"time"

	"github.com/smaint/smaint/schemas"
)

// AlertsHeader is the header of the file WriteAlerts writes.
var AlertsHeader = []string{"last_seen", "alert_id", "asset_id", "sensor_id", "sensor_type", "kind", "state", "severity",
	"opened_at", "occurrences", "summary", "recommended_action"}

// WriteAlerts writes every alert record of a backtest, in the order the
// alert stage emitted them (opened, updated, resolved), to a CSV file at
// path: what operators would have read, to tune thresholds and limits by.
func WriteAlerts(path string, as []schemas.Alert) error {
	return writeCSV(path, AlertsHeader, func(write func([]string)) {
		for i := range as {
			a := &as[i]
			write([]string{a.LastSeen.Format(time.RFC3339Nano), a.AlertID, a.AssetID, a.SensorID, a.SensorType, a.Kind.String(),
				a.State.String(), a.Severity.String(), a.OpenedAt.Format(time.RFC3339Nano), strconv.FormatInt(a.Occurrences, 10),
				a.Summary, a.RecommendedAction})
		}
	})
}
