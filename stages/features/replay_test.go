package features_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// outcome is what a run emitted: windows by sensor and start, and how
// many times each late reading was sent to the late topic.
type outcome struct {
	windows map[string][]schemas.FeatureVector
	late    map[string]int
}

func (o *outcome) add(fvs []schemas.FeatureVector, late []schemas.SensorReading) {
	for _, fv := range fvs {
		k := fv.SensorID + " " + fv.WindowStart.String()
		o.windows[k] = append(o.windows[k], fv)
	}
	for _, r := range late {
		o.late[r.SensorID+" "+r.TS.String()]++
	}
}

// A replay after a restart, from the committed offset and checkpoint,
// emits what the first run would have, late counts included, whatever the
// batches: each window once, each late reading once, and the same counts.
// Restarts come at random points, some while a replay that started before
// the stage needed it is still on readings the stage skips.
func TestReplaysEmitWhatTheFirstRunWould(t *testing.T) {
	// Delays up to 25 s, beyond the 10 s lateness: some readings are late.
	rs, _ := shuffleWithin(simulated(t, 10*time.Minute), 25*time.Second, 5)
	tp := pipeline.TopicPartition{Topic: "clean"}
	finish := func(e *env, o *outcome) {
		e.clk.t = e.clk.t.Add(time.Hour)
		res, _ := e.local.Tick(context.Background(), e.clk.t)
		fvs, late, _ := decodeRes(t, res)
		o.add(fvs, late)
	}
	want := &outcome{windows: map[string][]schemas.FeatureVector{}, late: map[string]int{}}
	e := newEnv(t, nil)
	for i := 0; i < len(rs); i += 400 {
		fvs, late, _ := e.feed(t, rs[i:min(i+400, len(rs))]...)
		want.add(fvs, late)
	}
	finish(e, want)
	lateCounted := int64(0)
	for _, fvs := range want.windows {
		lateCounted += fvs[0].LateCount
	}
	if len(want.late) == 0 || lateCounted != int64(len(want.late)) {
		t.Fatalf("the input has %d late readings, %d counted in windows: the test needs some, all counted", len(want.late), lateCounted)
	}

	for trial := range 6 {
		rng := rand.New(rand.NewPCG(uint64(trial), 9))
		got := &outcome{windows: map[string][]schemas.FeatureVector{}, late: map[string]int{}}
		e, off, restarts := newEnv(t, nil), 0, 0
		for {
			end := min(off+1+rng.IntN(4000), len(rs))
			for i := off; i < end; {
				n := 1 + rng.IntN(700)
				fvs, late, _ := e.feed(t, rs[i:min(i+n, end)]...)
				got.add(fvs, late)
				i += n
			}
			if end == len(rs) {
				finish(e, got)
				break
			}
			// Crash: resume from what the runner would have committed, or
			// earlier, as when a stage sharing the consumer retains more.
			committed := int64(end)
			if r, ok := e.stage.Retained()[tp]; ok {
				committed = min(committed, r)
			}
			committed = max(0, committed-int64(rng.IntN(2000)))
			cp := e.stage.Checkpoint(tp)
			e = newEnv(t, nil)
			e.stage.Resume(tp, cp)
			e.off, off = committed, int(committed)
			restarts++
		}
		for k, w := range want.windows {
			if g := got.windows[k]; !reflect.DeepEqual(g, w) {
				t.Fatalf("trial %d (%d restarts): window %s emitted as\n%+v\nwant\n%+v", trial, restarts, k, g, w)
			}
		}
		if len(got.windows) != len(want.windows) || fmt.Sprint(got.late) != fmt.Sprint(want.late) {
			t.Fatalf("trial %d (%d restarts): %d windows and late readings %v, want %d and %v", trial, restarts, len(got.windows), got.late, len(want.windows), want.late)
		}
	}
}
