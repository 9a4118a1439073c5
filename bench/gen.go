package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// generator makes the bench's readings: K sensors of the four common types
// taking turns, each reading stamped with the wall clock when it is made
// (so latencies are measured in event time), a share of them sent twice
// (for dedupe to drop) and, from shiftAt, a level shift on a few sensors
// (for the alert stage to catch). It is used by one goroutine.
type generator struct {
	sensors []sensor
	rng     *rand.Rand
	seq     uint64
	idHead  string // the first 24 characters of every reading id
	dupRate float64
	prev    schemas.SensorReading
	shiftAt time.Time
	shifted int // sensors [0, shifted) shift
	// replayFrom, if set, stamps readings in plant time instead of the
	// wall clock: every sensor once a second from replayFrom on, as a
	// backlog replayed would be.
	replayFrom time.Time
}

type sensor struct {
	id, asset, typ, unit string
	base, noise          float64
}

var sensorTypes = []struct {
	typ, unit   string
	base, noise float64
}{{"temperature", "C", 65, 0.3}, {"vibration", "mm/s", 2, 0.35}, {"pressure", "bar", 4.2, 0.03}, {"current", "A", 12, 0.2}}

func newGenerator(sensors int, dupRate float64, seed uint64) *generator {
	g := &generator{rng: rand.New(rand.NewPCG(seed, 0xbe7c4)), dupRate: dupRate, sensors: make([]sensor, sensors)}
	for i := range g.sensors {
		t := sensorTypes[i%len(sensorTypes)]
		asset := "asset-" + strconv.Itoa(i/len(sensorTypes))
		g.sensors[i] = sensor{id: asset + "-" + t.typ, asset: asset, typ: t.typ, unit: t.unit,
			base: t.base * (0.9 + 0.2*g.rng.Float64()), noise: t.noise}
	}
	var b [24]byte
	hexPut(b[0:8], g.rng.Uint64(), 8)
	b[8] = '-'
	hexPut(b[9:13], g.rng.Uint64(), 4)
	b[13] = '-'
	hexPut(b[14:18], 0x4000|g.rng.Uint64()&0x0fff, 4)
	b[18] = '-'
	hexPut(b[19:23], 0x8000|g.rng.Uint64()&0x0fff, 4)
	b[23] = '-'
	g.idHead = string(b[:])
	return g
}

// shift makes n sensors jump by 10 noise spreads from at on.
func (g *generator) shift(n int, at time.Time) { g.shifted, g.shiftAt = min(n, len(g.sensors)), at }

// next returns the next reading, or a repeat of the previous one.
func (g *generator) next(now time.Time) *schemas.SensorReading {
	if g.seq > 0 && g.dupRate > 0 && g.rng.Float64() < g.dupRate {
		return &g.prev
	}
	i := int(g.seq % uint64(len(g.sensors)))
	s := &g.sensors[i]
	if !g.replayFrom.IsZero() {
		now = g.replayFrom.Add(time.Duration(g.seq/uint64(len(g.sensors))) * time.Second)
	}
	v := s.base + s.noise*g.rng.NormFloat64()
	if s.typ == "vibration" {
		v += 0.5 * math.Sin(float64(g.seq)/7)
	}
	if i < g.shifted && !now.Before(g.shiftAt) {
		v += 10 * s.noise
	}
	var id [12]byte
	hexPut(id[:], g.seq, 12)
	g.prev = schemas.SensorReading{ReadingID: g.idHead + string(id[:]), SensorID: s.id, AssetID: s.asset, SensorType: s.typ,
		TS: now, Value: v, Unit: s.unit, Quality: 100}
	g.seq++
	return &g.prev
}

// feed sends readings to the readings topic: at rate per second, or
// flat out (rate 0), until count are sent (0: no limit) or ctx ends. It
// returns how many it sent.
func feed(ctx context.Context, g *generator, prod *pipeline.Producer, out *pipeline.Output[*schemas.SensorReading], rate float64, count int64, sent *atomic.Int64) error {
	pctx := context.WithoutCancel(ctx) // records queued when ctx ends must still go out
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil && (count == 0 || sent.Load() < count) {
		budget := int64(4096)
		if rate > 0 {
			budget = int64(rate*time.Since(start).Seconds()) - sent.Load()
			if budget <= 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
				continue
			}
		}
		now := time.Now()
		for ; budget > 0 && (count == 0 || sent.Load() < count); budget-- {
			r := g.next(now)
			if err := pipeline.Send(pctx, prod, out, r.SensorID, r); err != nil {
				return err
			}
			sent.Add(1)
		}
	}
	fctx, cancel := context.WithTimeout(pctx, time.Minute)
	defer cancel()
	return prod.Flush(fctx)
}

func hexPut(dst []byte, v uint64, n int) {
	const digits = "0123456789abcdef"
	for i := n - 1; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}
