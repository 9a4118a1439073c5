package simulate

import (
	"bytes"
	"context"
	"errors"
	"hash/fnv"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

var start = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func newSim(t testing.TB, mod func(*Config)) *Sim {
	t.Helper()
	cfg := Config{Assets: 4, Span: 20 * time.Minute, Start: start}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func all(t testing.TB, s *Sim) []Event {
	t.Helper()
	var evs []Event
	if err := s.Run(context.Background(), func(e Event) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return evs
}

func digest(evs []Event) uint64 {
	h := fnv.New64a()
	for _, e := range evs {
		b := e.Reading.AppendAvro(nil)
		h.Write(b)
		h.Write(e.Raw)
	}
	return h.Sum64()
}

func TestSameSeedSameStream(t *testing.T) {
	a := all(t, newSim(t, nil))
	b := all(t, newSim(t, nil))
	c := all(t, newSim(t, func(c *Config) { c.Seed = 2 }))
	if digest(a) != digest(b) {
		t.Fatal("equal seeds gave different streams")
	}
	if digest(a) == digest(c) {
		t.Fatal("different seeds gave the same stream")
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestStreamMatchesItsStats(t *testing.T) {
	s := newSim(t, nil)
	evs := all(t, s)
	st := s.Stats()
	if st.Events != int64(len(evs)) || st.Events != st.Readings+st.Duplicates+st.Malformed {
		t.Fatalf("stats %+v for %d events", st, len(evs))
	}
	// Each sensor's readings cover the span at its rate.
	perSec := s.ReadingsPerSecond()
	if want := perSec * 20 * 60; math.Abs(float64(st.Readings+st.Malformed)-want) > float64(s.Sensors()) {
		t.Errorf("%d readings taken, want about %.0f", st.Readings+st.Malformed, want)
	}
	seen := map[string]bool{}
	expected, dups := 0, 0
	var maxTS time.Time
	late, outOfOrder := 0, 0
	end := start.Add(20 * time.Minute)
	expectedIDs := map[string]bool{}
	for _, e := range evs {
		if e.Kind == KindReading {
			expectedIDs[e.Reading.ReadingID] = true
		}
	}
	for _, e := range evs {
		if e.Raw != nil || e.Reading.TS.After(end) { // malformed: undecodable, or dated in the future
			continue
		}
		r := e.Reading
		if e.Key != r.SensorID {
			t.Fatalf("key %q for sensor %q", e.Key, r.SensorID)
		}
		if seq, ok := SeqOf(r.ReadingID); e.Kind != KindMalformed && (!ok || seq != e.Seq || !uuidRE.MatchString(r.ReadingID)) {
			t.Fatalf("reading id %q does not carry seq %d", r.ReadingID, e.Seq)
		}
		if e.Kind == KindReading {
			if seen[r.ReadingID] {
				t.Fatalf("reading %s expected twice", r.ReadingID)
			}
			seen[r.ReadingID] = true
			expected++
		} else if expectedIDs[r.ReadingID] {
			dups++ // a resend, before or after its original
		}
		switch lag := maxTS.Sub(r.TS); {
		case lag > 25*time.Second:
			late++
		case lag > 0:
			outOfOrder++
		}
		if r.TS.After(maxTS) {
			maxTS = r.TS
		}
	}
	if int64(expected) != st.Readings {
		t.Errorf("%d expected events, stats say %d", expected, st.Readings)
	}
	if dups == 0 || late == 0 || outOfOrder == 0 || st.Spikes == 0 || st.Malformed == 0 {
		t.Errorf("a scenario injected nothing: dups %d late %d out-of-order %d, stats %+v", dups, late, outOfOrder, st)
	}
	if late > int(st.Late)+int(st.Duplicates) {
		t.Errorf("%d readings arrived >25s late, %d were injected late", late, st.Late)
	}
}

func TestNoScenariosIsACleanOrderedStream(t *testing.T) {
	s := newSim(t, func(c *Config) { c.Scenarios = []string{} })
	evs := all(t, s)
	last := map[string]time.Time{}
	for _, e := range evs {
		if e.Kind != KindReading || e.Raw != nil {
			t.Fatalf("unexpected event %+v", e)
		}
		if e.Reading.TS.Before(last[e.Key]) {
			t.Fatalf("sensor %s went back in time", e.Key)
		}
		last[e.Key] = e.Reading.TS
	}
	if st := s.Stats(); st.Incidents != 0 || st.Drifts != 0 || st.Duplicates != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMalformedRecordsAreBad(t *testing.T) {
	s := newSim(t, func(c *Config) { c.Scenarios = []string{Malformed}; c.MalformedRate = 0.2 })
	d := schemas.NewSerde().NewDecoder()
	now := start.Add(20 * time.Minute)
	bad := 0
	for _, e := range all(t, s) {
		if e.Kind != KindMalformed {
			continue
		}
		bad++
		if e.Raw != nil {
			var r schemas.SensorReading
			if err := d.Decode(context.Background(), e.Raw, &r); err == nil {
				t.Fatalf("raw malformed record decodes: %q", e.Raw)
			}
			continue
		}
		r := e.Reading
		if !math.IsNaN(r.Value) && uuidRE.MatchString(r.ReadingID) && r.Quality <= 100 && !r.TS.After(now.Add(time.Hour)) {
			t.Fatalf("malformed reading looks valid: %+v", r)
		}
	}
	if int64(bad) != s.Stats().Malformed || bad == 0 {
		t.Fatalf("%d bad records, stats %+v", bad, s.Stats())
	}
}

func TestFaultsArePlannedAndVisible(t *testing.T) {
	var truth bytes.Buffer
	s := newSim(t, func(c *Config) {
		c.Assets, c.Span, c.Incidents, c.Drifts, c.Truth = 8, time.Hour, 4, 2, &truth
		c.Scenarios = []string{LevelShifts, Degradation, Drift}
	})
	evs := all(t, s)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	faults := s.Truth()
	if len(faults) != 6 {
		t.Fatalf("%d faults planned, want 6", len(faults))
	}
	sensorsUsed := map[string]bool{}
	for _, f := range faults {
		if sensorsUsed[f.SensorID] {
			t.Errorf("two faults on %s", f.SensorID)
		}
		sensorsUsed[f.SensorID] = true
		if f.Start.Before(start.Add(15*time.Minute)) || (f.Kind == "incident" && f.End.After(start.Add(time.Hour))) {
			t.Errorf("fault outside the usable span: %+v", f)
		}
		// The fault shows in the data: the mean of the sensor's values at
		// full severity departs from its mean before the fault.
		before, during := meanOf(evs, f.SensorID, f.Start.Add(-5*time.Minute), f.Start), meanOf(evs, f.SensorID, f.Full, f.Full.Add(time.Minute))
		spread := profiles[f.SensorType].scale()
		if f.Type != "degradation" || profiles[f.SensorType].failure == levelMode {
			if diff := math.Abs(during.mean - before.mean); diff < f.Size*spread/2 {
				t.Errorf("%s on %s: mean moved %.3g, want about %.3g", f.Type, f.SensorID, diff, f.Size*spread)
			}
		} else if during.std < 1.5*before.std {
			t.Errorf("wear on %s: std %.3g before, %.3g during", f.SensorID, before.std, during.std)
		}
	}
	// Every fault is a line of the ground truth, and reads back as planned.
	back, err := ReadFaults(&truth)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(faults) {
		t.Fatalf("%d faults read back from the ground truth, want %d", len(back), len(faults))
	}
	for i := range back {
		if back[i] != faults[i] {
			t.Errorf("fault %d read back as %+v, planned %+v", i, back[i], faults[i])
		}
	}
	if _, err := ReadFaults(strings.NewReader("{\"kind\":\"drift\"}\nnot json\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ReadFaults on a bad line: %v", err)
	}
}

type moments struct{ mean, std float64 }

func meanOf(evs []Event, sensor string, from, to time.Time) moments {
	var n, sum, sq float64
	for _, e := range evs {
		if e.Key == sensor && e.Raw == nil && !e.Reading.TS.Before(from) && e.Reading.TS.Before(to) {
			n++
			sum += e.Reading.Value
			sq += e.Reading.Value * e.Reading.Value
		}
	}
	m := sum / n
	return moments{m, math.Sqrt(max(0, sq/n-m*m))}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no assets", Config{Assets: -1}},
		{"short span", Config{Span: time.Second}},
		{"unknown type", Config{Types: []string{"torque"}}},
		{"rate above half", Config{DuplicateRate: 0.9}},
		{"unknown scenario", Config{Scenarios: []string{"meteor"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, pipeline.ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
		})
	}
	if got, err := ParseScenarios("late, spikes"); err != nil || strings.Join(got, ",") != "late,spikes" {
		t.Fatalf("ParseScenarios: %v %v", got, err)
	}
	if _, err := ParseScenarios("late,comets"); !errors.Is(err, pipeline.ErrConfig) {
		t.Fatalf("ParseScenarios accepted an unknown scenario: %v", err)
	}
}

func BenchmarkNext(b *testing.B) {
	s := newSim(b, func(c *Config) { c.Span = 100 * time.Hour })
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := s.Next(); !ok {
			b.Fatal("span exhausted")
		}
	}
}
