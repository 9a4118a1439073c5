package simulate

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/smaint/smaint/schemas"
)

// Fault is one injected incident or drift, as the ground truth records it.
type Fault struct {
	Kind       string    `json:"kind"` // "incident" or "drift"
	ID         string    `json:"id"`
	Type       string    `json:"type"` // level_shift, degradation, drift
	AssetID    string    `json:"asset_id"`
	SensorID   string    `json:"sensor_id"`
	SensorType string    `json:"sensor_type"`
	Start      time.Time `json:"start"`
	Full       time.Time `json:"full"`         // severity reaches its peak
	End        time.Time `json:"end,omitzero"` // back to normal; zero for a drift (it stays)
	Size       float64   `json:"size"`         // peak change, in the sensor type's typical spread
}

func (f *fault) public() Fault {
	kind := "incident"
	if f.kind == kindDrift {
		kind = "drift"
	}
	return Fault{Kind: kind, ID: f.id, Type: f.kind.String(), AssetID: f.sensor.asset, SensorID: f.sensor.id,
		SensorType: f.sensor.typ, Start: f.start, Full: f.start.Add(f.ramp), End: f.end, Size: f.size}
}

// ReadingTruth is one ground-truth line about a single record.
type ReadingTruth struct {
	Kind      string        `json:"kind"` // duplicate, malformed, late, spike
	ReadingID string        `json:"reading_id"`
	SensorID  string        `json:"sensor_id"`
	TS        time.Time     `json:"ts"`
	Reason    string        `json:"reason,omitempty"` // for malformed: garbage, truncated, nan, bad_id, quality, future_ts
	Delay     time.Duration `json:"delay_ns,omitempty"`
}

// truthWriter writes ground truth as JSON lines; the first error sticks.
type truthWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

func newTruthWriter(w io.Writer) *truthWriter {
	if w == nil {
		return &truthWriter{}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	return &truthWriter{w: bw, enc: json.NewEncoder(bw)}
}

func (t *truthWriter) write(v any) {
	if t.enc == nil || t.err != nil {
		return
	}
	t.err = t.enc.Encode(v)
}

func (t *truthWriter) fault(f *fault) { t.write(f.public()) }

func (t *truthWriter) reading(kind string, r *schemas.SensorReading, delay time.Duration) {
	if t.enc == nil {
		return
	}
	t.write(ReadingTruth{Kind: kind, ReadingID: r.ReadingID, SensorID: r.SensorID, TS: r.TS, Delay: delay})
}

func (t *truthWriter) malformed(r *schemas.SensorReading, reason string) {
	if t.enc == nil {
		return
	}
	t.write(ReadingTruth{Kind: "malformed", ReadingID: r.ReadingID, SensorID: r.SensorID, TS: r.TS, Reason: reason})
}

// Flush writes out buffered ground truth.
func (s *Sim) Flush() error {
	if s.truth.w != nil && s.truth.err == nil {
		s.truth.err = s.truth.w.Flush()
	}
	return s.truth.err
}

// ReadFaults reads the incidents and drifts from a ground-truth file (as
// Config.Truth received it), skipping the lines about single records. A
// line that is not JSON is an error naming it.
func ReadFaults(r io.Reader) ([]Fault, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Fault
	for line := 1; sc.Scan(); line++ {
		var f Fault
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			return nil, fmt.Errorf("ground truth line %d: %w", line, err)
		}
		if f.Kind == "incident" || f.Kind == "drift" {
			out = append(out, f)
		}
	}
	return out, sc.Err()
}

// ReadFaultsFile is ReadFaults of the file at path; its errors name the
// file.
func ReadFaultsFile(path string) ([]Fault, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	faults, err := ReadFaults(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return faults, nil
}

// Open is New with the ground truth written to the file at truthPath
// ("": none). closeTruth flushes and closes that file; calls after the
// first return nil.
func Open(cfg Config, truthPath string) (sim *Sim, closeTruth func() error, err error) {
	closeFile := func() error { return nil }
	if truthPath != "" {
		f, err := os.Create(truthPath)
		if err != nil {
			return nil, nil, err
		}
		cfg.Truth, closeFile = f, f.Close
	}
	if sim, err = New(cfg); err != nil {
		closeFile()
		return nil, nil, err
	}
	var once sync.Once
	return sim, func() error {
		once.Do(func() {
			err = sim.Flush()
			if cerr := closeFile(); err == nil {
				err = cerr
			}
		})
		return err
	}, nil
}
