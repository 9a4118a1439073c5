package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/schemas"
)

type nopStage struct{}

func (nopStage) Process(context.Context, []Msg[schemas.SensorReading], *Emitter) error { return nil }

// Outputs awaiting acknowledgements past the stall limit are a stall too:
// the brokers are not taking them.
func TestCheckStallSeesUnacknowledgedOutputs(t *testing.T) {
	h := NewHealth()
	r, err := NewRunner[schemas.SensorReading]("s", nopStage{}, KafkaOpts(kgo.SeedBrokers("127.0.0.1:1")), ConsumeTopics("in"),
		WithHealth(h), WithMetrics(NewMetrics(nil)), StallAfter(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer r.abandon()
	t0 := time.Unix(1.7e9, 0)
	r.ackSince.Store(t0.UnixNano())
	for _, tc := range []struct {
		at      time.Duration
		ready   bool
		message string
	}{
		{30 * time.Second, true, ""},
		{90 * time.Second, false, "unacknowledged for 1m30s"},
	} {
		h.Set("stage/s", true, "consuming")
		r.checkStall(t0.Add(tc.at))
		report, ready := h.Report()
		if ready != tc.ready || !strings.Contains(report[0].Detail, tc.message) {
			t.Errorf("after %v: %+v", tc.at, report)
		}
	}
	r.ackSince.Store(0)
	r.checkStall(t0.Add(2 * time.Minute))
	if _, ready := h.Report(); !ready {
		t.Error("still stalled once the batch was acknowledged")
	}
}
