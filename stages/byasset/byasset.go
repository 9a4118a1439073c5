// Package byasset re-keys feature windows by asset. It reads
// sensor.features, keyed by sensor, and writes every window unchanged to
// asset.features, keyed by its asset_id: all the windows of an asset then
// share one partition, and a stage that reads that topic (the predict
// stage) sees an asset's sensors together. A sensor's windows keep their
// order, since one sensor's input partition is read in order.
package byasset

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Config configures the stage. The zero value writes to the default
// topic and registers no metrics.
type Config struct {
	AssetFeaturesTopic string // default asset.features
	Registerer         prometheus.Registerer
	Logger             *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.AssetFeaturesTopic == "" {
		c.AssetFeaturesTopic = pipeline.DefaultTopics().AssetFeatures
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	if c.AssetFeaturesTopic == "" {
		return fmt.Errorf("%w: byasset: no output topic", pipeline.ErrConfig)
	}
	return nil
}

// Stage is the re-keying stage. It keeps no state: every window is
// written once per input record, in the batch's transaction, and a
// window without asset_id goes to the dead-letter topic.
type Stage struct {
	out     *pipeline.Output[*schemas.FeatureVector]
	written prometheus.Counter
}

// New returns a Stage for cfg (after defaults), or cfg's validation error.
func New(cfg Config) (*Stage, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stage{out: pipeline.NewOutput[*schemas.FeatureVector](cfg.AssetFeaturesTopic),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "smaint_byasset_windows_total", Help: "Feature windows written again keyed by their asset."})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(s.written)
	}
	return s, nil
}

// Outputs implements pipeline.Outputter.
func (s *Stage) Outputs() []pipeline.Port { return []pipeline.Port{s.out} }

// Process writes each window keyed by its asset.
func (s *Stage) Process(_ context.Context, in []pipeline.Msg[schemas.FeatureVector], out *pipeline.Emitter) error {
	pipeline.Each(in, out, func(_ int, m *pipeline.Msg[schemas.FeatureVector]) error {
		if m.Value.AssetID == "" {
			return pipeline.Invalidf("feature vector of sensor %q without asset_id", m.Value.SensorID)
		}
		s.out.Emit(out, m.Value.AssetID, &m.Value)
		s.written.Inc()
		return nil
	})
	return nil
}
