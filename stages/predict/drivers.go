package predict

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Driver is a feature and how much it moved a prediction, in the
// prediction's units (time for remaining life, log-odds for a class).
type Driver struct {
	Feature string  `json:"feature"`
	Effect  float64 `json:"effect"`
}

// topDrivers are the n features of names with the largest effects.
func topDrivers(names []string, contrib []float64, n int) []Driver {
	ds := make([]Driver, len(contrib))
	for i, c := range contrib {
		ds[i] = Driver{names[i], c}
	}
	slices.SortFunc(ds, func(a, b Driver) int {
		return cmp.Or(cmp.Compare(math.Abs(b.Effect), math.Abs(a.Effect)), cmp.Compare(a.Feature, b.Feature))
	})
	return ds[:min(n, len(ds))]
}

// FormatDrivers writes drivers as "feature +1.2; feature -0.3".
func FormatDrivers(ds []Driver) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%s %+.3g", d.Feature, d.Effect)
	}
	return strings.Join(parts, "; ")
}

// Drivers are the n features that moved r's remaining-life prediction
// most from the average, with their effect in time.
func (m *RUL) Drivers(r Run, n int) []Driver {
	_, c := m.Model.Contributions(m.features(r, len(r.Times)-1))
	return topDrivers(m.Features, c, n)
}

// Drivers are, for label k, the n features that moved the row's
// log-odds most.
func (c *Classifier) Drivers(header, r []string, k, n int) ([]Driver, error) {
	x, err := c.features(header, r)
	if err != nil {
		return nil, err
	}
	return c.DriversOf(x, k, n), nil
}

// DriversOf are Drivers for features x (from Vector).
func (c *Classifier) DriversOf(x []float64, k, n int) []Driver {
	_, contrib := c.Models[k].Contributions(x)
	return topDrivers(c.Features, contrib, n)
}
