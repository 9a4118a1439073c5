// Package pipelinetest holds helpers for tests that run stages against an
// in-process Kafka cluster (franz-go's kfake): start a cluster, produce
// input, wait for a consumer group to commit everything, and read a topic
// back in full.
package pipelinetest

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Cluster starts a kfake cluster that the test closes when it ends.
func Cluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Client returns a client of the cluster at addrs that the test closes.
func Client(t testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// CreateTopic creates topic with the given partitions.
func CreateTopic(t testing.TB, cl *kgo.Client, partitions int32, topics ...string) {
	t.Helper()
	resp, err := kadm.NewClient(cl).CreateTopics(Context(t), partitions, 1, nil, topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Readings returns the records of rs on topic, keyed by sensor as the
// pipeline keys them, in single-object encoding.
func Readings(t testing.TB, topic string, rs []schemas.SensorReading) []*kgo.Record {
	t.Helper()
	enc, err := schemas.NewSerde().NewEncoder(context.Background(), schemas.SensorReadingSchema, "")
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]*kgo.Record, len(rs))
	for i := range rs {
		v, err := enc.Append(nil, &rs[i])
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(rs[i].SensorID), Value: v}
	}
	return recs
}

// Produce writes the records synchronously and fails the test on error.
func Produce(t testing.TB, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(Context(t), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// Deadline is when a test's waits give up: shortly before go test's own
// -timeout would end the test (ten minutes from now without one). Tests
// wait for conditions, not for a guessed time: on a machine busy with other
// work, everything takes longer, and only a test that never gets there
// fails.
func Deadline(t testing.TB) time.Time {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			return dl.Add(-30 * time.Second)
		}
	}
	return time.Now().Add(10 * time.Minute)
}

// Context is a context that ends at Deadline, or when the test does.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithDeadline(context.Background(), Deadline(t))
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds, failing the test if it still does
// not at Deadline; what says what was awaited.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := Deadline(t); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// WaitCommitted waits until group has committed, on every partition of
// topic, the partition's end offset: it has consumed everything there is.
func WaitCommitted(t testing.TB, cl *kgo.Client, group, topic string) {
	t.Helper()
	var lag int64
	var err error
	for deadline := Deadline(t); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lag, err = pipeline.GroupLag(ctx, cl, group, topic)
		cancel()
		if err == nil && lag == 0 {
			return
		}
	}
	t.Fatalf("group %s did not commit the end of %s (%d records behind, %v)", group, topic, lag, err)
}

// ReadAll returns every record of topic, from the start of each partition
// to its end offset at the time of the call, transactional or not,
// committed or not (transaction markers left out). A topic that does not
// exist reads as empty.
func ReadAll(t testing.TB, addrs []string, topic string) []*kgo.Record {
	t.Helper()
	return readTo(t, addrs, topic, false)
}

// ReadCommitted returns what a reader of committed records sees of topic,
// from the start of each partition to its last stable offset at the time
// of the call: records of aborted transactions are left out.
func ReadCommitted(t testing.TB, addrs []string, topic string) []*kgo.Record {
	t.Helper()
	return readTo(t, addrs, topic, true)
}

func readTo(t testing.TB, addrs []string, topic string, committed bool) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	if err := pipeline.ReadTopic(Context(t), topic, committed, func(r *kgo.Record) { out = append(out, r) }, kgo.SeedBrokers(addrs...)); err != nil {
		t.Fatal(err)
	}
	return out
}

// Header returns the value of the first header named key, or "".
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Metric returns the sum over the series of the counter or gauge name
// in g.
func Metric(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.SumMetric(mfs, name, nil)
}

// Logs is a concurrency-safe buffer to give a logger, for tests that
// check what was logged.
type Logs struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FreeAddr returns a loopback address nothing listens on now, for a
// server the test starts by address (a child process, a command line).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
