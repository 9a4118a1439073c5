// Package plant runs the smaint binary, as a user would, against a Kafka
// cluster in the test process (kfake): it builds the binary once, makes an
// input with smaint simulate, starts and stops smaint run processes, waits
// until they have done all their input, and reads and compares what they
// wrote. The fault suite (bench/faults) and the interoperability tests
// (bench/interop) are built on it.
package plant

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/audit"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// Partitions of the readings topic, and of every topic smaint creates:
// several, so that stages interleave them.
const Partitions = 3

var (
	binDir    string
	smaintBin = sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "smaint-faults")
		if err != nil {
			return "", err
		}
		binDir = dir
		bin := filepath.Join(dir, "smaint")
		if out, err := exec.Command("go", "build", "-o", bin, "github.com/smaint/smaint/cmd/smaint").CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build cmd/smaint: %v\n%s", err, out)
		}
		return bin, nil
	})
)

// Main runs a test binary's tests (call it from TestMain) and then removes
// the smaint binary they built.
func Main(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func Long() bool { return os.Getenv("SMAINT_FAULTS_LONG") != "" }

func Binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the smaint binary")
	}
	b, err := smaintBin()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inputs holds, by size, the readings the tests replay: made once per
// size by smaint simulate (40 minutes of a plant of 4 assets, more for
// larger sizes) (every scenario: duplicates, late and
// out-of-order readings, malformed records, incidents, drift), then
// copied partition by partition into each test's cluster, so that every
// run of a size reads the very same records at the very same offsets.
var (
	inputsMu sync.Mutex
	inputs   = map[int][]*kgo.Record{}
	start    = time.Now().Add(-40 * time.Minute).Truncate(time.Minute)
)

func Input(t *testing.T, n int) []*kgo.Record {
	t.Helper()
	inputsMu.Lock()
	defer inputsMu.Unlock()
	if recs, ok := inputs[n]; ok {
		return recs
	}
	c := pipelinetest.Cluster(t)
	out, err := exec.Command(Binary(t), "simulate", "--brokers", c.ListenAddrs()[0], "--count", strconv.Itoa(n), "--rate", "0",
		"--partitions", strconv.Itoa(Partitions), "--assets", strconv.Itoa(max(4, n/60_000+1)), "--seed", "7", "--start", start.Format(time.RFC3339), "--span", "40m").CombinedOutput()
	if err != nil {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	recs := pipelinetest.ReadAll(t, c.ListenAddrs(), pipeline.DefaultTopics().Readings)
	if len(recs) != n {
		t.Fatalf("simulate wrote %d readings, want %d", len(recs), n)
	}
	inputs[n] = recs
	return recs
}

// Plant is one cluster holding an input, and the smaint processes run on it.
type Plant struct {
	t       *testing.T
	bin     string
	Cluster *kfake.Cluster // replace it to restart the broker
	Addr    string         // the broker's address
	Admin   *kgo.Client    // places records at their Partition
	prefix  string         // of the Redis keys
	args    []string
	logs    bytes.Buffer
	logMu   sync.Mutex
}

// New starts a cluster (with opts) holding recs on the readings
// topic, at their partitions and offsets. The processes it starts run
// args besides its own.
func New(t *testing.T, recs []*kgo.Record, args []string, opts ...kfake.Opt) *Plant {
	t.Helper()
	p := &Plant{t: t, bin: Binary(t), args: args}
	pipelinetest.Redis(t)
	p.Cluster = pipelinetest.Cluster(t, opts...)
	p.Addr = p.Cluster.ListenAddrs()[0]
	p.Admin = pipelinetest.Client(t, p.Cluster.ListenAddrs(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	p.prefix = fmt.Sprintf("smaint-faults:%s:%d:", t.Name(), time.Now().UnixNano())
	p.load(recs)
	t.Cleanup(func() {
		if t.Failed() {
			p.logMu.Lock()
			t.Logf("smaint logs:\n%s", p.logs.String())
			p.logMu.Unlock()
		}
	})
	return p
}

func (p *Plant) load(recs []*kgo.Record) {
	pipelinetest.CreateTopic(p.t, p.Admin, Partitions, pipeline.DefaultTopics().Readings)
	cp := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		cp[i] = &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp}
	}
	pipelinetest.Produce(p.t, p.Admin, cp...)
}

// Proc is one smaint run process.
type Proc struct {
	cmd  *exec.Cmd
	Base string        // of its operator endpoints
	done chan struct{} // closed when it has exited, with err
	err  error
}

// Run starts "smaint run" as instance id on the plant.
// It closes idle windows after 5s: a fault that pauses a stage
// (a rebalance, injected errors, a broker restart, on a busy machine)
// longer than the idle timeout closes windows early, as it should on a
// live stream, and the outputs would rightly differ from the reference.
func (p *Plant) Run(id string, extra ...string) *Proc {
	p.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"run", "--brokers", p.Addr, "--partitions", strconv.Itoa(Partitions),
		"--stages", "dedupe,features,score,drift,forecast,alert", "--instance-id", id, "--session-timeout", "6s",
		"--idle-timeout", "5s", "--redis", "redis://127.0.0.1:6379/0", "--redis-prefix", p.prefix,
		"--http", addr, "--log-level", "warn"}, p.args...)
	cmd := exec.Command(p.bin, append(args, extra...)...)
	w := &prefixWriter{p: p, prefix: id + ": "}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	pr := &Proc{cmd: cmd, Base: "http://" + addr, done: make(chan struct{})}
	go func() {
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	p.t.Cleanup(pr.Kill)
	return pr
}

type prefixWriter struct {
	p      *Plant
	prefix string
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.p.logMu.Lock()
	defer w.p.logMu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			w.p.logs.WriteString(w.prefix + line)
		}
	}
	return len(b), nil
}

// Kill ends pr with SIGKILL: no drain, no commit, no leaving the group.
func (pr *Proc) Kill() {
	_ = pr.cmd.Process.Kill()
	<-pr.done
}

// Stop ends pr with SIGTERM and requires a clean exit.
func (pr *Proc) Stop(t *testing.T) {
	t.Helper()
	_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	<-pr.done
	if pr.err != nil {
		t.Fatalf("smaint run did not exit cleanly on SIGTERM: %v", pr.err)
	}
}

// Dump returns pr's smaint metrics, for a failure's log.
func (pr *Proc) Dump() string {
	resp, err := http.Get(pr.Base + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "smaint_") && !strings.Contains(line, "_bucket") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// Metric sums the samples of name that pr serves, or returns -1 if pr
// does not answer.
func (pr *Proc) Metric(name string) float64 {
	resp, err := http.Get(pr.Base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum, found := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil {
				sum, found = sum+v, true
			}
		}
	}
	if !found {
		return -1
	}
	return sum
}

// Settled waits until the pipeline has done everything its input asks:
// no window is open, and every stage of prs has processed all its inputs
// hold and committed its outputs (/drainedz). The input is all on the
// topic before, so this is a state the pipeline reaches, however busy the
// machine.
func (p *Plant) Settled(prs ...*Proc) {
	p.t.Helper()
	var state string
	for deadline := pipelinetest.Deadline(p.t); ; time.Sleep(50 * time.Millisecond) {
		for _, pr := range prs {
			select {
			case <-pr.done:
				p.t.Fatalf("smaint run exited before finishing: %v", pr.err)
			default:
			}
		}
		if state = unsettled(prs); state == "" {
			return
		}
		if time.Now().After(deadline) {
			for _, pr := range prs {
				p.t.Logf("metrics of a process:\n%s", pr.Dump())
			}
			p.t.Fatalf("the pipeline did not finish its input: %s", state)
		}
	}
}

// unsettled says what is left to do, or "" if nothing. Windows are asked
// first: a window closing emits, and /drainedz then covers what it emitted.
func unsettled(prs []*Proc) string {
	for _, pr := range prs {
		if n := pr.Metric("smaint_features_open_windows"); n != 0 {
			return fmt.Sprintf("%v windows open", n)
		}
	}
	for _, pr := range prs {
		resp, err := http.Get(pr.Base + "/drainedz")
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "not drained"
		}
	}
	return ""
}

// Audit requires of the plant's topics no lost reading, no duplicate and
// no over-counted window.
func (p *Plant) Audit() *audit.Report { return p.AuditOf(pipeline.DefaultTopics()) }

// AuditOf is Audit of the pipeline on topics t.
func (p *Plant) AuditOf(t pipeline.Topics) *audit.Report {
	p.t.Helper()
	rep, err := audit.Run(pipelinetest.Context(p.t), audit.Kafka(kgo.SeedBrokers(p.Addr)), audit.Config{Topics: t})
	if err != nil {
		p.t.Fatal(err)
	}
	if !rep.OK() {
		var b strings.Builder
		rep.Print(&b)
		p.t.Errorf("audit:\n%s", b.String())
	}
	return rep
}

// Outputs are the committed records of every output topic, as counts of
// key and value.
func (p *Plant) Outputs() map[string]map[string]int { return p.OutputsOf(pipeline.DefaultTopics()) }

// outputTopics are the topics Outputs reads, by their names in
// pipeline.TopicNames.
var outputTopics = []string{"clean", "late", "features", "scores", "drift", "forecasts", "alerts", "retrain"}

// OutputsOf is Outputs of the pipeline on topics t, by topic name
// (pipeline.TopicNames), so that pipelines on different topics compare.
func (p *Plant) OutputsOf(t pipeline.Topics) map[string]map[string]int {
	p.t.Helper()
	out := map[string]map[string]int{}
	for _, name := range outputTopics {
		m := map[string]int{}
		for _, r := range pipelinetest.ReadCommitted(p.t, []string{p.Addr}, t.All()[slices.Index(pipeline.TopicNames, name)]) {
			m[string(r.Key)+"\x00"+string(r.Value)]++
		}
		out[name] = m
	}
	return out
}

// SameOutputs requires got to hold exactly the records of want.
func SameOutputs(t *testing.T, want, got map[string]map[string]int) {
	t.Helper()
	for topic, w := range want {
		g := got[topic]
		missing, extra := 0, 0
		for k, n := range w {
			if g[k] < n {
				missing += n - g[k]
			}
		}
		for k, n := range g {
			if w[k] < n {
				extra += n - w[k]
			}
		}
		if missing+extra > 0 {
			t.Errorf("%s: %d records of the uninterrupted run missing, %d not in it (of %d)", topic, missing, extra, sum(w))
			shown := 0
			for k, n := range w {
				if g[k] < n && shown < 3 {
					shown++
					t.Logf("missing: %s", describe(topic, k))
				}
			}
			shown = 0
			for k, n := range g {
				if w[k] < n && shown < 3 {
					shown++
					t.Logf("extra: %s", describe(topic, k))
				}
			}
		}
	}
}

// describe decodes a key and value of the topic called name for a
// failure's log.
func describe(name, kv string) string {
	key, val, _ := strings.Cut(kv, "\x00")
	var v schemas.Record
	switch name {
	case "clean", "late":
		v = &schemas.SensorReading{}
	case "features":
		v = &schemas.FeatureVector{}
	case "scores":
		v = &schemas.AnomalyScore{}
	case "drift":
		v = &schemas.DriftReport{}
	case "forecasts":
		v = &schemas.Forecast{}
	case "alerts":
		v = &schemas.Alert{}
	case "retrain":
		v = &schemas.RetrainEvent{}
	default:
		return key
	}
	if err := schemas.NewSerde().NewDecoder().Decode(context.Background(), []byte(val), v); err != nil {
		return key + ": " + err.Error()
	}
	return fmt.Sprintf("%s: %+v", key, v)
}

func sum(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// Reference runs the pipeline over recs without a fault and returns its
// outputs.
func Reference(t *testing.T, recs []*kgo.Record) map[string]map[string]int {
	t.Helper()
	p := New(t, recs, nil)
	pr := p.Run("ref")
	p.Settled(pr)
	pr.Stop(t)
	p.Audit()
	return p.Outputs()
}

// BadRecords are readings no stage may pass on, at partition 0 of the
// readings topic: 5 MB and 900 KB readings of a valid schema, bytes that
// are no reading, and readings holding a NUL or invalid UTF-8.
func BadRecords(t *testing.T) []*kgo.Record {
	t.Helper()
	enc, err := schemas.NewSerde().NewEncoder(context.Background(), (&schemas.SensorReading{}).AvroSchema(), "")
	if err != nil {
		t.Fatal(err)
	}
	reading := func(i int, mod func(*schemas.SensorReading)) *kgo.Record {
		r := &schemas.SensorReading{ReadingID: fmt.Sprintf("0badbad0-0000-4000-8000-%012d", i), SensorID: "asset-001-temperature", AssetID: "asset-001",
			SensorType: "temperature", TS: start.Add(time.Duration(i) * time.Second), Value: 20, Unit: "C", Quality: 90}
		mod(r)
		b, err := enc.Append(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: pipeline.DefaultTopics().Readings, Partition: 0, Key: []byte(r.SensorID), Value: b}
	}
	return []*kgo.Record{
		reading(1, func(r *schemas.SensorReading) { r.Unit = strings.Repeat("x", 5<<20) }),
		reading(2, func(r *schemas.SensorReading) { r.Unit = strings.Repeat("y", 900<<10) }),
		reading(3, func(r *schemas.SensorReading) { r.SensorID = "asset-001-temp\x00erature" }),
		reading(4, func(r *schemas.SensorReading) { r.Unit = "\xff\xfe" }),
		{Topic: pipeline.DefaultTopics().Readings, Partition: 0, Value: []byte("not a reading at all")},
	}
}

// FreePort returns a TCP port free at the time of the call.
func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// WaitReady waits until pr's /readyz answers 200.
func WaitReady(t *testing.T, pr *Proc) {
	t.Helper()
	pipelinetest.Eventually(t, "the process to be ready", func() bool {
		resp, err := http.Get(pr.Base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// WaitProgress waits until pr has consumed some readings: a fault
// injected then lands mid-work.
func WaitProgress(t *testing.T, pr *Proc) {
	t.Helper()
	pipelinetest.Eventually(t, "the pipeline to consume readings", func() bool {
		return pr.Metric("smaint_records_in_total") > 0
	})
}
