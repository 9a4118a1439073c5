package s3store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/smaint/smaint/stages/score"
)

// fakeS3 is an in-process S3 (gofakes3) behind a switch that can make
// it answer 503, or hang until the test ends.
type fakeS3 struct {
	srv      *httptest.Server
	requests atomic.Int64
	fail     atomic.Int64 // answer this many more requests with 503
	hang     atomic.Bool
}

func newFake(t *testing.T) *fakeS3 {
	t.Helper()
	f := &fakeS3{}
	s3 := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true)).Server()
	stop := make(chan struct{})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.hang.Load() {
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return
		}
		if f.fail.Add(-1) >= 0 {
			http.Error(w, "<Error><Code>ServiceUnavailable</Code><Message>down for the test</Message></Error>", http.StatusServiceUnavailable)
			return
		}
		s3.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { close(stop); f.srv.Close() })
	return f
}

func (f *fakeS3) uri() string {
	return "s3://models/smaint?endpoint=" + f.srv.URL + "&path_style=true&region=eu-west-1"
}

func open(t *testing.T, uri string, opts ...Option) *Store {
	t.Helper()
	cfg := aws.Config{Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	st, err := Open(context.Background(), uri, append([]Option{WithAWSConfig(cfg)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// forest trains a small Isolation Forest for sensor type typ.
func forest(t *testing.T, typ string, seed uint64) *score.IForest {
	t.Helper()
	names := score.FeatureNames(0)
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([][]float64, 200)
	for i := range rows {
		rows[i] = make([]float64, len(names))
		for j := range rows[i] {
			rows[i][j] = rng.NormFloat64()
		}
	}
	cfg := score.IForestConfig{Trees: 10, SampleSize: 64, Seed: seed}.WithDefaults()
	f, err := score.TrainIForest("iforest-"+typ, typ, names, rows, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func publish(t *testing.T, st score.ModelStore, version string, fs ...*score.IForest) {
	t.Helper()
	if _, err := score.Publish(context.Background(), st, fs, version, score.Manifest{CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
}

func TestPublishListLoad(t *testing.T) {
	ctx := context.Background()
	st := open(t, newFake(t).uri())
	publish(t, st, "v1", forest(t, "pressure", 1), forest(t, "vibration", 1))
	publish(t, st, "v2", forest(t, "pressure", 2))

	vs, err := st.Versions(ctx, "iforest-pressure")
	if err != nil || len(vs) != 2 || vs[0].Version != "v1" || vs[1].Version != "v2" || !strings.HasPrefix(vs[1].URI, "s3://models/smaint/iforest-pressure/") {
		t.Fatalf("versions %+v, %v", vs, err)
	}
	models, err := st.Models(ctx)
	if err != nil || strings.Join(models, ",") != "iforest-pressure,iforest-vibration" {
		t.Fatalf("models %v, %v", models, err)
	}
	loaded, err := score.LoadModels(ctx, st, []string{"pressure", "vibration", "current"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 2 || loaded["pressure"].Version != "v2" || loaded["vibration"].Version != "v1" {
		t.Fatalf("loaded %v", loaded)
	}
	_, man, err := score.LoadIForest(ctx, st, vs[1].URI, "")
	if err != nil || man.Name != "iforest-pressure" || man.Version != "v2" || man.Detector != "iforest" || len(man.SHA256) != 64 || man.Metrics["windows"] != 200 {
		t.Fatalf("manifest %+v, %v", man, err)
	}
	// The live version, once recorded, is loaded rather than the newest.
	if live, err := st.Live(ctx, "iforest-pressure"); err != nil || live != "" {
		t.Fatalf("live before any was recorded: %q, %v", live, err)
	}
	if err := st.SetLive(ctx, "iforest-pressure", "v1"); err != nil {
		t.Fatal(err)
	}
	if live, err := st.Live(ctx, "iforest-pressure"); err != nil || live != "v1" {
		t.Fatalf("live %q, %v", live, err)
	}
	if vs, _ := st.Versions(ctx, "iforest-pressure"); len(vs) != 2 {
		t.Fatalf("the live pointer is listed as a version: %+v", vs)
	}
	if loaded, err := score.LoadModels(ctx, st, []string{"pressure"}, nil); err != nil || loaded["pressure"].Version != "v1" {
		t.Fatalf("with v1 live, loaded %v (%v)", loaded, err)
	}
	if _, err := st.Versions(ctx, "iforest-acoustic"); !errors.Is(err, score.ErrNoModel) {
		t.Fatalf("a model never published: %v", err)
	}
}

// TestATamperedArtifactIsRefused: a newer version whose bytes were
// changed, cut short, or copied from another version is refused with a clear error, and the last
// good version is loaded instead.
func TestATamperedArtifactIsRefused(t *testing.T) {
	ctx := context.Background()
	st := open(t, newFake(t).uri())
	publish(t, st, "v1", forest(t, "pressure", 1))
	publish(t, st, "v2", forest(t, "pressure", 2))
	publish(t, st, "v3", forest(t, "pressure", 3))
	vs, _ := st.Versions(ctx, "iforest-pressure")
	b, err := st.Get(ctx, vs[1].URI)
	if err != nil {
		t.Fatal(err)
	}
	// The model's threshold (after the manifest's copy): 0.6 becomes 10.6.
	at := strings.LastIndex(string(b), `"threshold":`) + len(`"threshold":`)
	tampered := string(b)[:at] + "1" + string(b)[at:]
	if _, _, err := st.Put(ctx, "iforest-pressure", "v2", []byte(tampered)); err != nil {
		t.Fatal(err)
	}
	b, _ = st.Get(ctx, vs[2].URI)
	if _, _, err := st.Put(ctx, "iforest-pressure", "v3", b[:len(b)/2]); err != nil {
		t.Fatal(err)
	}

	// v4 is a copy of v1's object: a good artifact, but not of v4.
	b, _ = st.Get(ctx, vs[0].URI)
	if _, _, err := st.Put(ctx, "iforest-pressure", "v4", b); err != nil {
		t.Fatal(err)
	}

	refused := map[string]error{}
	loaded, err := score.LoadModels(ctx, st, []string{"pressure"}, func(model, version string, err error) { refused[version] = err })
	if err != nil {
		t.Fatal(err)
	}
	if loaded["pressure"] == nil || loaded["pressure"].Version != "v1" {
		t.Fatalf("loaded %+v, want the last good version v1", loaded["pressure"])
	}
	if !errors.Is(refused["v4"], score.ErrCorrupt) || !errors.Is(refused["v3"], score.ErrCorrupt) || !errors.Is(refused["v2"], score.ErrChecksum) {
		t.Fatalf("refusals %v", refused)
	}
	t.Logf("v2: %v", refused["v2"])
	t.Logf("v3: %v", refused["v3"])
	t.Logf("v4: %v", refused["v4"])
}

// TestTheStoreFailing: 5xx answers are retried; a store that is down or
// does not answer gives an error, never a hang or a wrong model.
func TestTheStoreFailing(t *testing.T) {
	ctx := context.Background()
	f := newFake(t)
	st := open(t, f.uri(), WithTimeout(500*time.Millisecond))
	publish(t, st, "v1", forest(t, "pressure", 1))

	f.fail.Store(2)
	before := f.requests.Load()
	if _, err := score.LoadModels(ctx, st, []string{"pressure"}, nil); err != nil {
		t.Fatalf("after two 503s: %v", err)
	}
	if n := f.requests.Load() - before; n < 4 {
		t.Fatalf("%d requests: the 503s were not retried", n)
	}

	f.fail.Store(1000)
	_, err := score.LoadModels(ctx, st, []string{"pressure"}, nil)
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("store answering 503: %v", err)
	}
	f.fail.Store(0)

	f.hang.Store(true)
	if _, err := score.LoadModels(ctx, st, []string{"pressure"}, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("store not answering: %v", err)
	}
	f.hang.Store(false)

	down := open(t, fmt.Sprintf("s3://models?endpoint=http://%s&path_style=true", closedAddr(t)))
	if _, err := score.LoadModels(ctx, down, []string{"pressure"}, nil); err == nil || !strings.Contains(err.Error(), "s3store: list") {
		t.Fatalf("store down: %v", err)
	}
}

func closedAddr(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.Listener.Addr().String()
	srv.Close()
	return addr
}

func TestOpenRefusesBadURIs(t *testing.T) {
	for _, uri := range []string{"s3://", "file:///tmp", "s3://b?endpoint=ftp://x", "s3://b?path_style=maybe", "s3://b?regoin=x"} {
		if _, err := Open(context.Background(), uri, WithAWSConfig(aws.Config{})); err == nil {
			t.Errorf("%q: no error", uri)
		}
	}
}
