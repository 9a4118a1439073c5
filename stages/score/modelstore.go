package score

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/smaint/smaint/pipeline"
)

// ModelStore holds versioned model artifacts. Implementations must be
// safe for concurrent use.
type ModelStore interface {
	// Put stores data as version of model and returns its URI and the
	// hex SHA-256 of data.
	Put(ctx context.Context, model, version string, data []byte) (uri, sha string, err error)
	// Get returns the artifact at uri.
	Get(ctx context.Context, uri string) ([]byte, error)
	// Latest returns the URI of model's latest version (versions sort as
	// strings), or ErrNoModel.
	Latest(ctx context.Context, model string) (string, error)
}

// ErrNoModel means the store has no version of a model.
var ErrNoModel = errors.New("score: no such model")

// ErrChecksum means an artifact's bytes do not match the SHA-256 its
// announcement carried.
var ErrChecksum = errors.New("score: model checksum mismatch")

// OpenModelStore opens the store at a URI: file:///path for a directory.
func OpenModelStore(uri string) (ModelStore, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("score: model store %q: %w", uri, err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" {
			return nil, fmt.Errorf("score: model store %q has no path", uri)
		}
		return &FileStore{Dir: u.Path}, nil
	default:
		return nil, fmt.Errorf("score: model store %q: scheme %q not supported (file:// is)", uri, u.Scheme)
	}
}

// FileStore is a ModelStore in a directory: <Dir>/<model>/<version>.json.
type FileStore struct{ Dir string }

var validName = func(s string) bool {
	return s != "" && !strings.ContainsAny(s, `/\`) && s != "." && s != ".."
}

// Put implements ModelStore. The file is written atomically.
func (s *FileStore) Put(_ context.Context, model, version string, data []byte) (string, string, error) {
	if !validName(model) || !validName(version) {
		return "", "", fmt.Errorf("score: bad model name %q or version %q", model, version)
	}
	dir := filepath.Join(s.Dir, model)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, version+".json")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(data)
	return (&url.URL{Scheme: "file", Path: path}).String(), hex.EncodeToString(sum[:]), nil
}

// Get implements ModelStore.
func (s *FileStore) Get(_ context.Context, uri string) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "file" {
		return nil, fmt.Errorf("score: %q is not a file:// URI", uri)
	}
	return os.ReadFile(u.Path)
}

// Latest implements ModelStore.
func (s *FileStore) Latest(_ context.Context, model string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, model))
	if errors.Is(err, os.ErrNotExist) {
		return "", ErrNoModel
	}
	if err != nil {
		return "", err
	}
	var versions []string
	for _, e := range entries {
		if v, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return "", ErrNoModel
	}
	slices.Sort(versions)
	return (&url.URL{Scheme: "file", Path: filepath.Join(s.Dir, model, versions[len(versions)-1]+".json")}).String(), nil
}

// LoadIForest fetches an artifact and, when sha is not empty, checks it.
func LoadIForest(ctx context.Context, st ModelStore, uri, sha string) (*IForest, error) {
	b, err := st.Get(ctx, uri)
	if err != nil {
		return nil, err
	}
	if sha != "" {
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, sha) {
			return nil, fmt.Errorf("%w: %s has %s, announced %s", ErrChecksum, uri, got, sha)
		}
	}
	return UnmarshalIForest(b)
}

// CommonTypes are the sensor types LoadModels looks for when given none.
var CommonTypes = []string{"temperature", "vibration", "pressure", "current", "acoustic", "humidity"}

// LoadModels loads, for each of types (CommonTypes if nil), the latest
// Isolation Forest the store holds for it (model "iforest-<type>"), by
// type. Types without one are left out: the stage's detector (robust, by default) scores them.
func LoadModels(ctx context.Context, st ModelStore, types []string) (map[string]*IForest, error) {
	if types == nil {
		types = CommonTypes
	}
	models := map[string]*IForest{}
	for _, typ := range types {
		uri, err := st.Latest(ctx, "iforest-"+typ)
		if errors.Is(err, ErrNoModel) {
			continue
		}
		if err == nil {
			models[typ], err = LoadIForest(ctx, st, uri, "")
		}
		if err != nil {
			return nil, fmt.Errorf("iforest-%s: %w", typ, err)
		}
	}
	return models, nil
}

// ParseThresholds reads per-type thresholds written TYPE=SCORE[,TYPE=SCORE...]
// (empty parts are skipped; "" is none); FormatThresholds writes them.
func ParseThresholds(s string) (map[string]float64, error) {
	m := map[string]float64{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		typ, v, ok := strings.Cut(kv, "=")
		th, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || typ == "" {
			return nil, fmt.Errorf("%w: threshold %q: want TYPE=SCORE", pipeline.ErrConfig, kv)
		}
		m[typ] = th
	}
	return m, nil
}

// FormatThresholds writes m as ParseThresholds reads it, in type order.
func FormatThresholds(m map[string]float64) string {
	parts := make([]string, 0, len(m))
	for _, typ := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, typ+"="+strconv.FormatFloat(m[typ], 'g', -1, 64))
	}
	return strings.Join(parts, ",")
}
