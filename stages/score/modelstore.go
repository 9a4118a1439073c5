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

// ModelStore holds versioned model artifacts (EncodeArtifact's form).
// Implementations must be safe for concurrent use; file:// is FileStore,
// s3:// is sinks/s3store.
type ModelStore interface {
	// Put stores data as version of model and returns its URI and the
	// hex SHA-256 of data. A reader sees the whole artifact or none of it.
	Put(ctx context.Context, model, version string, data []byte) (uri, sha string, err error)
	// Get returns the artifact at uri.
	Get(ctx context.Context, uri string) ([]byte, error)
	// Versions lists model's versions, oldest first (versions sort as
	// strings), or returns ErrNoModel.
	Versions(ctx context.Context, model string) ([]StoredVersion, error)
	// Models lists the models the store holds, in name order.
	Models(ctx context.Context) ([]string, error)
	// SetLive records version as model's live version: the one to score
	// with (train, the retrain stage's published versions, promote and
	// rollback set it; shadow versions do not).
	SetLive(ctx context.Context, model, version string) error
	// Live returns model's live version, or "" when none is recorded.
	Live(ctx context.Context, model string) (string, error)
}

// liveFile is the name, beside a model's versions, of the object naming
// its live version. It does not end in .json, so it is no version.
const liveFile = "LIVE"

// StoredVersion is one version of a model in a store.
type StoredVersion struct {
	Version string `json:"version"`
	URI     string `json:"uri"`
}

// ErrNoModel means the store has no version of a model.
var ErrNoModel = errors.New("score: no such model")

// Latest returns the URI of model's latest version, or ErrNoModel.
func Latest(ctx context.Context, st ModelStore, model string) (string, error) {
	vs, err := st.Versions(ctx, model)
	if err != nil {
		return "", err
	}
	return vs[len(vs)-1].URI, nil
}

// ErrChecksum means an artifact's bytes do not match the SHA-256 its
// announcement carried.
var ErrChecksum = errors.New("score: model checksum mismatch")

// OpenModelStore opens the store at a file:///path URI: a directory.
// (cmd/smaint also opens s3:// URIs, with sinks/s3store.)
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
		return nil, fmt.Errorf("score: model store %q: scheme %q not supported here (file:// is)", uri, u.Scheme)
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

// Models implements ModelStore.
func (s *FileStore) Models(_ context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && validName(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, err
}

// SetLive implements ModelStore; the file is written atomically.
func (s *FileStore) SetLive(_ context.Context, model, version string) error {
	if !validName(model) || !validName(version) {
		return fmt.Errorf("score: bad model name %q or version %q", model, version)
	}
	path := filepath.Join(s.Dir, model, liveFile)
	if err := os.WriteFile(path+".tmp", []byte(version+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// Live implements ModelStore.
func (s *FileStore) Live(_ context.Context, model string) (string, error) {
	if !validName(model) {
		return "", fmt.Errorf("score: bad model name %q", model)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, model, liveFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	return strings.TrimSpace(string(b)), err
}

// Versions implements ModelStore.
func (s *FileStore) Versions(_ context.Context, model string) ([]StoredVersion, error) {
	if !validName(model) {
		return nil, fmt.Errorf("score: bad model name %q", model)
	}
	entries, err := os.ReadDir(filepath.Join(s.Dir, model))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoModel
	}
	if err != nil {
		return nil, err
	}
	var out []StoredVersion
	for _, e := range entries {
		if v, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			out = append(out, StoredVersion{v, (&url.URL{Scheme: "file", Path: filepath.Join(s.Dir, model, e.Name())}).String()})
		}
	}
	if len(out) == 0 {
		return nil, ErrNoModel
	}
	slices.SortFunc(out, func(a, b StoredVersion) int { return strings.Compare(a.Version, b.Version) })
	return out, nil
}

// LoadIForest fetches an artifact, checks it against its manifest and,
// when sha is not empty, against the checksum announced for it (of the
// whole artifact, as ModelStore.Put returns it), and
// returns the forest with its manifest. A tampered artifact is refused
// with ErrChecksum, an unreadable one with ErrCorrupt.
func LoadIForest(ctx context.Context, st ModelStore, uri, sha string) (*IForest, Manifest, error) {
	b, err := st.Get(ctx, uri)
	if err != nil {
		return nil, Manifest{}, err
	}
	if sha != "" {
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, sha) {
			return nil, Manifest{}, fmt.Errorf("%w: %s has %s, announced %s", ErrChecksum, uri, got, sha)
		}
	}
	m, model, err := DecodeArtifact(b)
	if err != nil {
		return nil, m, fmt.Errorf("%s: %w", uri, err)
	}
	f, err := UnmarshalIForest(model)
	if err != nil {
		return nil, m, fmt.Errorf("%s: %w: %v", uri, ErrCorrupt, err)
	}
	if f.Model != m.Name {
		return nil, m, fmt.Errorf("%s: %w: the manifest names %s, the model is %s", uri, ErrCorrupt, m.Name, f.Model)
	}
	f.Version = m.Version
	return f, m, nil
}

// LoadVersion is LoadIForest for version v of model, as listed by
// ModelStore.Versions, with VersionArtifact's checks.
func LoadVersion(ctx context.Context, st ModelStore, model string, v StoredVersion) (*IForest, Manifest, error) {
	m, b, err := VersionArtifact(ctx, st, model, v)
	if err != nil {
		return nil, m, err
	}
	f, err := UnmarshalIForest(b)
	if err != nil {
		return nil, m, fmt.Errorf("%s: %w: %v", v.URI, ErrCorrupt, err)
	}
	if f.Model != m.Name {
		return nil, m, fmt.Errorf("%s: %w: the manifest names %s, the model is %s", v.URI, ErrCorrupt, m.Name, f.Model)
	}
	f.Version = m.Version
	return f, m, nil
}

// VersionArtifact reads version v of model, as listed by
// ModelStore.Versions, and returns its manifest and model bytes, of any
// kind (Manifest.Detector says which). The model must match the
// manifest's checksum, and the manifest name that model and version (a
// copy of another version's file, or an edited manifest, is refused with
// ErrCorrupt).
func VersionArtifact(ctx context.Context, st ModelStore, model string, v StoredVersion) (Manifest, []byte, error) {
	raw, err := st.Get(ctx, v.URI)
	if err != nil {
		return Manifest{}, nil, err
	}
	m, b, err := DecodeArtifact(raw)
	switch {
	case err != nil:
		return m, nil, fmt.Errorf("%s: %w", v.URI, err)
	case m.Name != model || m.Version != v.Version:
		return m, nil, fmt.Errorf("%s: %w: it holds %s version %s, stored as %s version %s", v.URI, ErrCorrupt, m.Name, m.Version, model, v.Version)
	}
	return m, b, nil
}

// CommonTypes are the sensor types LoadModels looks for when given none.
var CommonTypes = []string{"temperature", "vibration", "pressure", "current", "acoustic", "humidity"}

// LoadModels loads, for each of types (CommonTypes if nil), the
// Isolation Forest the store holds for it (model "iforest-<type>"): its
// live version (ModelStore.Live), or, when none is recorded or it fails
// LoadVersion's checks, the newest version that passes them. A version
// that fails is passed to refused and skipped, so the last good one is
// used. Types without a good version are left out: the stage's detector
// (robust, by default) scores them. An error reading the store fails the
// load.
func LoadModels(ctx context.Context, st ModelStore, types []string, refused func(model, version string, err error)) (map[string]*IForest, error) {
	if types == nil {
		types = CommonTypes
	}
	if refused == nil {
		refused = func(string, string, error) {}
	}
	models := map[string]*IForest{}
	for _, typ := range types {
		name := "iforest-" + typ
		vs, err := st.Versions(ctx, name)
		if errors.Is(err, ErrNoModel) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		live, err := st.Live(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		order := make([]StoredVersion, 0, len(vs)+1)
		if i := slices.IndexFunc(vs, func(v StoredVersion) bool { return v.Version == live }); i >= 0 {
			order = append(order, vs[i])
		} else if live != "" {
			refused(name, live, fmt.Errorf("%w: the live version %s is not in the store", ErrCorrupt, live))
		}
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].Version != live {
				order = append(order, vs[i])
			}
		}
		for _, v := range order {
			f, _, err := LoadVersion(ctx, st, name, v)
			if errors.Is(err, ErrChecksum) || errors.Is(err, ErrCorrupt) {
				refused(name, v.Version, err)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			models[typ] = f
			break
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

// LiveArtifact reads the live version of model name from store (its
// newest, when none is live), checks it against its manifest, and
// returns the manifest and the model's bytes. ErrNoModel: the store has
// no version of it.
func LiveArtifact(ctx context.Context, store ModelStore, name string) (Manifest, []byte, error) {
	vs, err := store.Versions(ctx, name)
	if err == nil && len(vs) == 0 {
		err = ErrNoModel
	}
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("model %s: %w", name, err)
	}
	v := vs[len(vs)-1]
	if live, err := store.Live(ctx, name); err == nil && live != "" {
		if i := slices.IndexFunc(vs, func(s StoredVersion) bool { return s.Version == live }); i >= 0 {
			v = vs[i]
		}
	}
	raw, err := store.Get(ctx, v.URI)
	if err != nil {
		return Manifest{}, nil, err
	}
	man, b, err := DecodeArtifact(raw)
	if err != nil {
		return man, nil, fmt.Errorf("%s: %w", v.URI, err)
	}
	return man, b, nil
}
