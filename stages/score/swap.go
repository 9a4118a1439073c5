package score

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/smaint/smaint/schemas"
)

// ErrNotAModel means a ModelUpdated names a model the score stage does
// not load (only "iforest-<type>" models are).
var ErrNotAModel = errors.New("score: not a model of the score stage")

// Apply acts on one decision of model.updates: a live version (published,
// promoted, rolled back to) replaces its sensor type's model from the
// next window on; a shadow version is scored beside it (see SetShadow);
// the others change nothing. The artifact is fetched from store and
// checked against the announced checksum first: one that fails is refused
// (ErrChecksum, ErrCorrupt), and the model in use stays; a store that
// cannot deliver it returns its error, and the model in use stays too. Applying the version in use
// again changes nothing. Apply may be called from any goroutine while
// the stage runs; it blocks while it fetches the artifact.
func (s *Stage) Apply(ctx context.Context, store ModelStore, u *schemas.ModelUpdated) error {
	typ, ok := strings.CutPrefix(u.ModelName, "iforest-")
	if !ok || typ == "" {
		return fmt.Errorf("%w: %s", ErrNotAModel, u.ModelName)
	}
	live := u.Live()
	if !live && u.Action != schemas.ModelShadow {
		return nil
	}
	if cur := s.model(typ); live && cur != nil && cur.Version == u.Version {
		return nil
	}
	f, _, err := LoadIForest(ctx, store, u.URI, u.SHA256)
	if err == nil && f.SensorType != typ {
		err = fmt.Errorf("%w: %s holds a model of %s", ErrCorrupt, u.URI, f.SensorType)
	}
	if errors.Is(err, ErrChecksum) || errors.Is(err, ErrCorrupt) {
		s.met.refused.Inc()
		s.cfg.Logger.Warn("model version refused; the one in use stays", "model", u.ModelName, "version", u.Version, "action", u.Action, "err", err)
	}
	if err != nil {
		return err // the store's failure: the caller may try again
	}
	if live {
		s.SetModel(f)
		return nil
	}
	s.SetShadow(f)
	return nil
}

// SetShadow makes m score its sensor type beside the model in use, from
// the next window on, until a live version of that type arrives: each
// window is scored by both, only the live model's score is emitted, and
// whether the two agree on the window being anomalous is counted in
// smaint_score_shadow_windows_total.
func (s *Stage) SetShadow(m *IForest) {
	s.mu.Lock()
	s.shadows[m.SensorType] = m
	s.mu.Unlock()
	s.cfg.Logger.Info("shadow model loaded", "model", m.Model, "version", m.Version, "sensor_type", m.SensorType)
}

// shadow scores fv with typ's shadow model, if any, and counts whether
// it agrees with the live verdict anomalous.
func (s *Stage) shadow(fv *schemas.FeatureVector, anomalous bool) {
	s.mu.Lock()
	m := s.shadows[fv.SensorType]
	s.mu.Unlock()
	if m == nil {
		return
	}
	v := m.Detector().Score(fv)
	if !v.OK {
		return
	}
	th := m.Threshold
	if t, ok := s.cfg.Thresholds[fv.SensorType]; ok {
		th = t
	}
	agree := "true"
	if (v.Score >= th) != anomalous {
		agree = "false"
	}
	s.met.shadow.WithLabelValues(fv.SensorType, m.Version, agree).Inc()
}
