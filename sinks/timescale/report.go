package timescale

import (
	"fmt"
	"io"
	"strings"
)

// Name is how messages name a storage mode: "TimescaleDB" or "plain
// PostgreSQL".
func (m Mode) Name() string {
	if m == ModeTimescale {
		return "TimescaleDB"
	}
	return "plain PostgreSQL"
}

// MigrateReport is a migration's outcome, for people (Print) and scripts
// (its JSON form).
type MigrateReport struct {
	Database string   `json:"database"`
	Mode     Mode     `json:"mode"`
	Reason   string   `json:"reason"`
	Applied  []string `json:"applied"`
	Settings []string `json:"settings_changed"`
	// Ran lists the policies run by hand (migrate --run-policies).
	Ran []string `json:"policies_run,omitempty"`
}

// Report returns r's report for the database named database (see Where).
func (r MigrateResult) Report(database string) MigrateReport {
	return MigrateReport{Database: database, Mode: r.Mode, Reason: r.Reason,
		Applied: append([]string{}, r.Applied...), Settings: append([]string{}, r.Policies...)}
}

// Print writes the report as lines.
func (r MigrateReport) Print(w io.Writer) {
	fmt.Fprintf(w, "database %s: %s mode (%s)\n", r.Database, r.Mode.Name(), r.Reason)
	if len(r.Applied) == 0 && len(r.Settings) == 0 {
		fmt.Fprintln(w, "up to date: nothing to do")
	}
	if len(r.Applied) > 0 {
		fmt.Fprintf(w, "applied: %s\n", strings.Join(r.Applied, ", "))
	}
	if len(r.Settings) > 0 {
		fmt.Fprintf(w, "settings: %s\n", strings.Join(r.Settings, "; "))
	}
	if len(r.Ran) > 0 {
		fmt.Fprintf(w, "ran: %s\n", strings.Join(r.Ran, ", "))
	}
}
