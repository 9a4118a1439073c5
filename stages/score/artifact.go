package score

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Manifest describes one stored version of a model. It travels in the
// same object as the model (see EncodeArtifact), so a store never holds
// a model without its manifest or the reverse.
type Manifest struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"` // hex SHA-256 of the model's bytes
	CreatedAt time.Time `json:"created_at"`
	// The event-time range of the training data (zero when unknown).
	TrainedFrom time.Time `json:"trained_from,omitzero"`
	TrainedTo   time.Time `json:"trained_to,omitzero"`
	Features    []string  `json:"features"`
	// Metrics are the training metrics (windows, threshold, ...).
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// Detector names the model's kind ("iforest"); Params its settings.
	Detector string         `json:"detector"`
	Params   map[string]any `json:"params,omitempty"`
}

// ErrCorrupt means an artifact cannot be read: truncated, not JSON, or
// without a manifest (written before manifests, or not by smaint).
var ErrCorrupt = errors.New("score: model artifact unreadable")

// EncodeArtifact returns the stored form of model (JSON) with m as its
// manifest, m.SHA256 set to the model's checksum: one JSON object,
// {"manifest":{...},"model":{...}}, whose model part is byte for byte the
// bytes hashed.
func EncodeArtifact(m Manifest, model []byte) ([]byte, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, model); err != nil {
		return nil, fmt.Errorf("score: model %s: %w", m.Name, err)
	}
	sum := sha256.Sum256(compact.Bytes())
	m.SHA256 = hex.EncodeToString(sum[:])
	mb, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(mb)+compact.Len()+24)
	out = append(out, `{"manifest":`...)
	out = append(out, mb...)
	out = append(out, `,"model":`...)
	out = append(out, compact.Bytes()...)
	return append(out, '}'), nil
}

// DecodeArtifact reads an artifact and checks its model against the
// manifest's checksum. It returns ErrCorrupt (wrapped) for bytes it
// cannot read and ErrChecksum for a model that does not match.
func DecodeArtifact(b []byte) (Manifest, []byte, error) {
	var a struct {
		Manifest *Manifest       `json:"manifest"`
		Model    json.RawMessage `json:"model"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return Manifest{}, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if a.Manifest == nil || len(a.Model) == 0 {
		return Manifest{}, nil, fmt.Errorf("%w: no manifest and model (written by an older smaint? train it again)", ErrCorrupt)
	}
	sum := sha256.Sum256(a.Model)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, a.Manifest.SHA256) {
		return *a.Manifest, nil, fmt.Errorf("%w: %s %s has %s, its manifest says %s", ErrChecksum, a.Manifest.Name, a.Manifest.Version, got, a.Manifest.SHA256)
	}
	return *a.Manifest, a.Model, nil
}
