package features

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smaint/smaint/schemas"
)

// calc is the scratch space one goroutine computes windows' vectors with.
type calc struct {
	spec *spectrum
	bigs bigArena
}

const (
	// parallelMin is how many closing windows each goroutine gets at
	// least (so a second one starts at twice this): every sensor's window
	// closes at the same moment, so a close is either a few windows (idle,
	// late sensors) or thousands.
	parallelMin = 256
	// parallelChunk is how many windows a goroutine takes at a time.
	parallelChunk = 64
)

// vectors computes the FeatureVectors of ws, in ws's order; an entry is
// nil where computing the window panicked. Thousands of windows close
// together, and their vectors are independent, so they are computed on up
// to Config.Workers goroutines; vectors returns when all are done. The
// result is only valid until the next call.
func (s *Stage) vectors(ws []*window) []*schemas.FeatureVector {
	s.fvs = slices.Grow(s.fvs[:0], len(ws))[:len(ws)]
	workers := min(len(s.calcs), len(ws)/parallelMin)
	if workers <= 1 {
		for i, w := range ws {
			s.fvs[i] = s.safeVector(s.calcs[0], w)
		}
		return s.fvs
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, c := range s.calcs[:workers] {
		wg.Go(func() {
			for {
				lo := int(next.Add(parallelChunk)) - parallelChunk
				if lo >= len(ws) {
					return
				}
				for i := lo; i < min(lo+parallelChunk, len(ws)); i++ {
					s.fvs[i] = s.safeVector(c, ws[i])
				}
			}
		})
	}
	wg.Wait()
	return s.fvs
}

// safeVector is vector behind a recover: a bug that panics on one window
// loses that window (logged and counted), not the batch. It is safe to
// call from several goroutines with different calcs and windows.
func (s *Stage) safeVector(c *calc, w *window) (fv *schemas.FeatureVector) {
	defer func() {
		if p := recover(); p != nil {
			s.met.windowErrors.Inc()
			s.cfg.Logger.Error("computing a window panicked; window dropped", "sensor", w.s.id,
				"start", time.UnixMicro(w.start).UTC(), "readings", w.acc.n, "panic", p)
			fv = nil
		}
	}()
	return s.vector(c, w)
}

// vector computes the FeatureVector of w, all but its LateCount;
// non-finite results (from values near maxAbsValue) become 0. It reads w
// and sorts w's samples, and writes nothing else shared but metrics.
func (s *Stage) vector(c *calc, w *window) *schemas.FeatureVector {
	st := w.acc.computeIn(&c.bigs)
	fv := &schemas.FeatureVector{
		SensorID: w.s.id, AssetID: w.s.asset, SensorType: w.s.typ,
		WindowStart: time.UnixMicro(w.start).UTC(), WindowEnd: time.UnixMicro(w.end).UTC(),
		Count: st.count, Mean: st.mean, Std: st.std, Min: st.min, Max: st.max, RMS: st.rms,
		Skewness: st.skewness, Kurtosis: st.kurtosis, CrestFactor: st.crest, PeakToPeak: st.peakToPeak,
		Slope: st.slope,
	}
	if w.acc.spectral {
		c.spec.vals = w.acc.sortedValues(c.spec.vals)
		fv.BandEnergies = c.spec.bandEnergies(c.spec.vals)
	}
	for _, f := range []*float64{&fv.Mean, &fv.Std, &fv.Min, &fv.Max, &fv.RMS, &fv.Skewness, &fv.Kurtosis,
		&fv.CrestFactor, &fv.PeakToPeak, &fv.Slope} {
		if math.IsNaN(*f) || math.IsInf(*f, 0) {
			*f = 0
			s.met.nonFinite.Inc()
		}
	}
	return fv
}
