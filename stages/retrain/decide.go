package retrain

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages/score"
)

// decide trains r's candidate on its windows, less those of sensors in
// an incident and every k-th of each other sensor's held out, judges it and the
// store's current version on the held-out ones, and publishes the
// candidate unless it flags more of them than the current one (plus
// Config.Tolerance) or than Config.MaxFalseAlerts, or fewer than
// Config.MinSensitivity of them moved by Config.Shift. A request whose
// windows come mostly from sensors in an incident (less than
// Config.MinNormal of them from the others) is rejected: they are a
// fault, not a new normal. It returns the decision;
// an error only when the store could not be read or written.
func (s *Stage) decide(ctx context.Context, r *request) (*schemas.ModelUpdated, error) {
	from, to := r.windows[0].WindowStart, r.windows[0].WindowEnd
	for i := range r.windows {
		from, to = minTime(from, r.windows[i].WindowStart), maxTime(to, r.windows[i].WindowEnd)
	}
	faulty := s.inIncident(minTime(from, r.ev.RequestedAt), to)
	every := max(2, int(math.Round(1/s.cfg.Holdout)))
	var train, hold []*schemas.FeatureVector
	var normal int
	nth := map[string]int{} // each sensor's windows so far: every sensor is both trained on and judged
	for i := range r.windows {
		fv := &r.windows[i]
		if faulty[fv.SensorID] {
			continue
		}
		normal++
		if nth[fv.SensorID]++; nth[fv.SensorID]%every == 0 {
			hold = append(hold, fv)
			continue
		}
		train = append(train, fv)
	}
	u := &schemas.ModelUpdated{ModelName: r.ev.ModelName, TrainFrom: from, TrainUntil: to, TrainedAt: s.cfg.Clock.Now().UTC(),
		Metrics: map[string]float64{"windows": float64(len(train)), "holdout": float64(len(hold)),
			"incident_windows": float64(len(r.windows) - normal), "incident_sensors": float64(len(faulty))}}
	if float64(normal) < s.cfg.MinNormal*float64(len(r.windows)) {
		u.Action = schemas.ModelRejected
		u.Reason = fmt.Sprintf("%s: %d of the %d windows after the request come from sensors in an incident (%d sensors: ANOMALY, THRESHOLD or PREDICTED alerts); a fault is not a new normal",
			r.ev.Reason, len(r.windows)-normal, len(r.windows), len(faulty))
		return u, nil
	}
	cand, err := score.TrainSensorForest(r.ev.ModelName, r.typ, score.FeatureNames(r.bands), train, s.cfg.Forest)
	if err != nil {
		u.Action, u.Reason = schemas.ModelRejected, "training failed: "+err.Error()
		return u, nil
	}
	// Both versions are judged on the windows the candidate would judge
	// live: not those of sensors it left out, nor windows cut short.
	hold = slices.DeleteFunc(hold, func(fv *schemas.FeatureVector) bool { return !cand.Judges(fv) })
	u.Metrics["holdout_judged"] = float64(len(hold))
	if len(hold) == 0 {
		u.Action = schemas.ModelRejected
		u.Reason = fmt.Sprintf("%s: the candidate judges none of the windows held out (their sensors left out of training, or the windows cut short): nothing to judge it by", r.ev.Reason)
		return u, nil
	}
	candFAR, spread, scored := falseAlerts(cand, hold)
	u.Metrics["far_candidate"], u.Metrics["score_std"] = candFAR, spread

	refused := func(model, version string, err error) {
		s.cfg.Logger.Warn("model version refused while judging a candidate", "model", model, "version", version, "err", err)
	}
	current, err := score.LoadModels(ctx, s.cfg.Store, []string{r.typ}, refused)
	if err != nil {
		return nil, err
	}
	cur := current[r.typ]
	if cur != nil {
		curFAR, _, _ := falseAlerts(cur, hold)
		u.Metrics["far_current"] = curFAR
		if candFAR > curFAR+s.cfg.Tolerance {
			u.Action = schemas.ModelRejected
			u.Reason = fmt.Sprintf("%s: the candidate flags %.1f%% of %d windows held out after the request, the current version %s %.1f%% (tolerance %.1f points)",
				r.ev.Reason, 100*candFAR, len(hold), cur.Version, 100*curFAR, 100*s.cfg.Tolerance)
			return u, nil
		}
	}
	sens, moved := sensitivity(cand, hold, s.cfg.Shift)
	u.Metrics["sensitivity_candidate"] = sens
	if moved > 0 && sens < s.cfg.MinSensitivity {
		u.Action = schemas.ModelRejected
		u.Reason = fmt.Sprintf("%s: the candidate flags %.0f%% of %d windows held out after the request once they are moved by %g of their standard deviations, under the %.0f%% needed: it would miss a level change that size",
			r.ev.Reason, 100*sens, moved, s.cfg.Shift, 100*s.cfg.MinSensitivity)
		return u, nil
	}
	if tooMany(candFAR, scored, s.cfg.MaxFalseAlerts) {
		u.Action = schemas.ModelRejected
		u.Reason = fmt.Sprintf("%s: the candidate flags %.1f%% of %d windows held out after the request, significantly more than the %.1f%% allowed: it has not learnt what normal looks like",
			r.ev.Reason, 100*candFAR, len(hold), 100*s.cfg.MaxFalseAlerts)
		return u, nil
	}
	u.Version = r.ev.RequestedAt.UTC().Format("20060102T150405Z") // as smaint train names versions
	pub, err := score.Publish(ctx, s.cfg.Store, []*score.IForest{cand}, u.Version, score.Manifest{
		CreatedAt: u.TrainedAt, TrainedFrom: from.UTC(), TrainedTo: to.UTC(),
		Params: map[string]any{"trees": s.cfg.Forest.Trees, "sample_size": s.cfg.Forest.SampleSize,
			"contamination": s.cfg.Forest.Contamination, "seed": s.cfg.Forest.Seed, "request": r.ev.EventID},
	})
	if err != nil {
		return nil, err
	}
	u.URI, u.SHA256 = pub[0].URI, pub[0].SHA256
	u.Action = schemas.ModelPublished
	if s.cfg.Shadow {
		u.Action = schemas.ModelShadow
	} else if err := s.cfg.Store.SetLive(ctx, r.ev.ModelName, u.Version); err != nil {
		return nil, err
	}
	u.Reason = fmt.Sprintf("%s: the candidate flags %.1f%% of %d windows held out after the request", r.ev.Reason, 100*candFAR, len(hold))
	if n := len(r.windows) - normal; n > 0 {
		u.Reason += fmt.Sprintf(" (%d windows of %d sensors in an incident left out)", n, len(faulty))
	}
	if cur != nil {
		u.Reason += fmt.Sprintf(", the current version %s %.1f%%", cur.Version, 100*u.Metrics["far_current"])
	} else {
		u.Reason += "; there was no version before"
	}
	return u, nil
}

// tooMany reports whether flagging share far of n windows is more than a
// false-alert rate of most could explain: the chance of that many or more
// at rate most is under 1%. One flagged window of ten is 10%, but no
// evidence against a 5% rate; eight of fifty is.
func tooMany(far float64, n int, most float64) bool {
	k := math.Round(far * float64(n))
	if n == 0 || k <= most*float64(n) {
		return false
	}
	return distuv.Binomial{N: float64(n), P: most}.Survival(k-1) < 0.01
}

// falseAlerts returns the share of windows m flags (score at or over its
// threshold), the standard deviation of its scores, and how many windows
// it scored.
func falseAlerts(m *score.IForest, windows []*schemas.FeatureVector) (far, spread float64, n int) {
	d := m.Detector()
	var flagged int
	var sum, sq float64
	for _, fv := range windows {
		v := d.Score(fv)
		if !v.OK {
			continue
		}
		n++
		sum += v.Score
		sq += v.Score * v.Score
		if v.Score >= m.Threshold {
			flagged++
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	mean := sum / float64(n)
	return float64(flagged) / float64(n), math.Sqrt(max(0, sq/float64(n)-mean*mean)), n
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
