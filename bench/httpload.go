package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/embedded"
	"github.com/smaint/smaint/pipeline/httpapi"
	"github.com/smaint/smaint/schemas"
)

// HTTPConfig configures RunHTTP: the HTTP API ("smaint serve" in a child
// process) under load, then under abuse.
type HTTPConfig struct {
	Duration time.Duration // each load phase (default 10s)
	Clients  int           // concurrent clients in the load phases (default 16)
	Batch    int           // readings per request in the batch phases (default 500)
	Sensors  int           // sensors the readings go round-robin over (default 1000)
	Brokers  []string      // a Kafka cluster to use; default: an embedded broker
	// Server returns the command that runs "smaint serve" with args;
	// default: this executable.
	Server func(args []string) (*exec.Cmd, error)
	Out    io.Writer    // progress lines; nil: none
	Logger *slog.Logger // nil: discard
}

// WithDefaults returns c with every unset field at its default.
func (c HTTPConfig) WithDefaults() HTTPConfig {
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Clients == 0 {
		c.Clients = 16
	}
	if c.Batch == 0 {
		c.Batch = 500
	}
	if c.Sensors == 0 {
		c.Sensors = 1000
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Server == nil {
		c.Server = func(args []string) (*exec.Cmd, error) {
			exe, err := os.Executable()
			if err != nil {
				return nil, err
			}
			return exec.Command(exe, append([]string{"serve"}, args...)...), nil
		}
	}
	return c
}

// HTTPPhase is what one load phase measured, from the clients' side.
type HTTPPhase struct {
	Name           string        `json:"name"`
	Requests       int64         `json:"requests"`
	Accepted       int64         `json:"readings_accepted"`
	Seconds        float64       `json:"seconds"`
	ReadingsPerSec float64       `json:"readings_per_sec"`
	RequestsPerSec float64       `json:"requests_per_sec"`
	P50            time.Duration `json:"p50_ns"`
	P99            time.Duration `json:"p99_ns"`
	Max            time.Duration `json:"max_ns"`
	Status         map[int]int64 `json:"status"`
}

// AbuseCase is what the server answered to one kind of bad request.
type AbuseCase struct {
	Name   string        `json:"name"`
	Sent   int64         `json:"sent"`
	Want   int           `json:"want"` // the status every one should get (0: see Note)
	Status map[int]int64 `json:"status"`
	Note   string        `json:"note,omitempty"`
}

// HTTPReport is RunHTTP's result.
type HTTPReport struct {
	Phases []HTTPPhase `json:"phases"`
	Abuse  []AbuseCase `json:"abuse"`
	// Accepted is every reading answered 202; OnTopic is the records the
	// readings topic holds at the end. Equal when nothing was lost or
	// written twice.
	Accepted int64 `json:"accepted"`
	OnTopic  int64 `json:"on_topic"`
	// HealthyAfter: a valid POST got 202 and /v1/health 200 after the
	// abuse.
	HealthyAfter bool    `json:"healthy_after"`
	ServerCPU    float64 `json:"server_cpu_seconds"`
	ServerPeakMB float64 `json:"server_peak_rss_mib"`
}

// The abuse cases' rate-limited key: 50 requests a second, bursts of 50.
const floodRate = 50

// RunHTTP starts a broker (unless cfg.Brokers) and smaint serve, runs the
// load phases and the abuse cases, and checks the readings topic holds
// exactly the accepted readings.
func RunHTTP(ctx context.Context, cfg HTTPConfig) (*HTTPReport, error) {
	cfg = cfg.WithDefaults()
	svc, err := embedded.Start(ctx, embedded.Options{Brokers: cfg.Brokers, KeyPrefix: "smaint:bench-http:", Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	keys := map[string]string{}
	var lines []string
	for _, k := range []struct{ name, scopes, rate string }{{"load", "write", "0"}, {"reader", "read", "0"}, {"flood", "write", strconv.Itoa(floodRate)}} {
		secret, line, err := httpapi.NewKey(k.name, k.scopes, k.rate)
		if err != nil {
			return nil, err
		}
		keys[k.name], lines = secret, append(lines, line)
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"--listen", listen, "--log-level", "error", "--max-in-flight", strconv.Itoa(4 * cfg.Clients)}
	for _, b := range svc.Brokers {
		args = append(args, "--brokers", b)
	}
	if svc.RegistryURL != "" {
		args = append(args, "--registry", svc.RegistryURL)
	}
	cmd, err := cfg.Server(args)
	if err != nil {
		return nil, err
	}
	child, err := startPipeline(cmd, []string{"SMAINT_API_KEYS=" + joinLines(lines)})
	if err != nil {
		return nil, err
	}
	defer child.kill()
	if err := child.waitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	l := &loader{base: "http://" + listen, cfg: cfg, keys: keys, client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 4 * cfg.Clients}, Timeout: time.Minute}}
	rep := &HTTPReport{}
	for _, p := range []struct {
		name   string
		batch  int
		format string
	}{
		{fmt.Sprintf("JSON, %d readings a request", cfg.Batch), cfg.Batch, "json"},
		{fmt.Sprintf("Avro container, %d readings a request", cfg.Batch), cfg.Batch, "avro"},
		{"JSON, 1 reading a request", 1, "json"},
	} {
		fmt.Fprintf(cfg.Out, "load: %s, %d clients, %v...\n", p.name, cfg.Clients, cfg.Duration)
		ph := l.load(ctx, p.name, p.batch, p.format)
		rep.Phases, rep.Accepted = append(rep.Phases, ph), rep.Accepted+ph.Accepted
	}
	fmt.Fprintln(cfg.Out, "abuse...")
	rep.Abuse = l.abuse(ctx)
	rep.Accepted += l.floodAccepted.Load()
	code, _ := l.post(ctx, keys["load"], "application/json", l.jsonBody(1))
	hc, herr := http.Get(l.base + "/v1/health")
	if herr == nil {
		hc.Body.Close()
	}
	rep.HealthyAfter = code == http.StatusAccepted && herr == nil && hc.StatusCode == http.StatusOK
	if code == http.StatusAccepted {
		rep.Accepted++
	}
	cpu, peak, err := child.stop(time.Minute)
	if err != nil {
		return nil, err
	}
	rep.ServerCPU, rep.ServerPeakMB = cpu, float64(peak)/(1<<20)
	cl, err := kgo.NewClient(kgo.SeedBrokers(svc.Brokers...))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	if rep.OnTopic, err = topicRecords(ctx, cl, pipeline.DefaultTopics().Readings); err != nil {
		return nil, err
	}
	return rep, nil
}

func joinLines(ls []string) string {
	var b bytes.Buffer
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(l)
	}
	return b.String()
}

// loader makes the requests.
type loader struct {
	base          string
	cfg           HTTPConfig
	keys          map[string]string
	client        *http.Client
	seq           atomic.Int64
	floodAccepted atomic.Int64
}

// post sends body and returns the status and the readings accepted.
func (l *loader) post(ctx context.Context, key, ctype string, body []byte) (int, int64) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/v1/readings", bytes.NewReader(body))
	if err != nil {
		return 0, 0
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var a struct {
		Accepted int64 `json:"accepted"`
	}
	if resp.StatusCode == http.StatusAccepted {
		_ = json.NewDecoder(resp.Body).Decode(&a)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	return resp.StatusCode, a.Accepted
}

// load runs cfg.Clients clients posting batches for cfg.Duration.
func (l *loader) load(ctx context.Context, name string, batch int, format string) HTTPPhase {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		status    = map[int]int64{}
		accepted  atomic.Int64
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range l.cfg.Clients {
		wg.Go(func() {
			var mine []time.Duration
			codes := map[int]int64{}
			for ctx.Err() == nil {
				body, ctype := l.jsonBody(batch), "application/json"
				if format == "avro" {
					body, ctype = l.avroBody(batch), "application/avro"
				}
				t0 := time.Now()
				code, n := l.post(context.WithoutCancel(ctx), l.keys["load"], ctype, body)
				mine = append(mine, time.Since(t0))
				codes[code]++
				accepted.Add(n)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			for c, n := range codes {
				status[c] += n
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	slices.Sort(latencies)
	ph := HTTPPhase{Name: name, Requests: int64(len(latencies)), Accepted: accepted.Load(), Seconds: secs, Status: status}
	if len(latencies) > 0 {
		ph.P50, ph.P99, ph.Max = latencies[len(latencies)/2], latencies[len(latencies)*99/100], latencies[len(latencies)-1]
		ph.ReadingsPerSec, ph.RequestsPerSec = float64(ph.Accepted)/secs, float64(ph.Requests)/secs
	}
	return ph
}

// abuse sends each kind of bad request and counts the answers.
func (l *loader) abuse(ctx context.Context) []AbuseCase {
	badKey := make([]byte, 32)
	_, _ = rand.Read(badKey)
	huge := bytes.Repeat([]byte(" "), 4<<20+1) // over serve's default 4 MiB
	nan := []byte(`{"sensor_id":"s","asset_id":"a","sensor_type":"t","ts":"` + time.Now().UTC().Format(time.RFC3339) + `","value":"NaN"}`)
	future := []byte(`{"sensor_id":"s","asset_id":"a","sensor_type":"t","ts":"` + time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339) + `","value":1}`)
	cases := []struct {
		name, key, ctype string
		body             []byte
		n                int
		want             int
	}{
		{"unknown API key", fmt.Sprintf("smk_%x", badKey), "application/json", l.jsonBody(10), 2000, http.StatusUnauthorized},
		{"no API key", "", "application/json", l.jsonBody(10), 500, http.StatusUnauthorized},
		{"read-only key posting", l.keys["reader"], "application/json", l.jsonBody(10), 500, http.StatusForbidden},
		{"body over 4 MiB", l.keys["load"], "application/json", huge, 20, http.StatusRequestEntityTooLarge},
		{"malformed JSON", l.keys["load"], "application/json", []byte(`{"readings": [{"sensor_id": "s"`), 1000, http.StatusBadRequest},
		{"a reading valued NaN", l.keys["load"], "application/json", nan, 500, http.StatusBadRequest},
		{"a reading a day ahead", l.keys["load"], "application/json", future, 500, http.StatusBadRequest},
		{"XML", l.keys["load"], "application/xml", []byte("<readings/>"), 200, http.StatusUnsupportedMediaType},
	}
	var out []AbuseCase
	for _, c := range cases {
		ac := AbuseCase{Name: c.name, Sent: int64(c.n), Want: c.want, Status: map[int]int64{}}
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for range 8 {
			wg.Go(func() {
				for next.Add(1) <= int64(c.n) {
					code, _ := l.post(ctx, c.key, c.ctype, c.body)
					mu.Lock()
					ac.Status[code]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		out = append(out, ac)
	}
	// A flood from a key limited to floodRate requests a second: 32
	// clients for 3 s, as fast as they can.
	ac := AbuseCase{Name: fmt.Sprintf("flood, key limited to %d/s", floodRate), Status: map[int]int64{}}
	fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	start := time.Now()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for fctx.Err() == nil {
				code, n := l.post(context.WithoutCancel(fctx), l.keys["flood"], "application/json", l.jsonBody(1))
				l.floodAccepted.Add(n)
				mu.Lock()
				ac.Status[code]++
				ac.Sent++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	ac.Note = fmt.Sprintf("at most %d accepted (the burst, then %d/s over %.1f s)", floodRate+int(floodRate*time.Since(start).Seconds()+1), floodRate, time.Since(start).Seconds())
	return append(out, ac)
}

// jsonBody is a JSON batch of n fresh readings, stamped now.
func (l *loader) jsonBody(n int) []byte {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	b := make([]byte, 0, n*190+16)
	b = append(b, `{"readings":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		s := l.seq.Add(1)
		b = fmt.Appendf(b, `{"reading_id":%q,"sensor_id":"http-%d","asset_id":"asset-%d","sensor_type":"temperature","ts":%q,"value":%g,"unit":"C","quality":100}`,
			schemas.NewUUID(), s%int64(l.cfg.Sensors), s%int64(l.cfg.Sensors)/4, now, 20+float64(s%100)/10)
	}
	return append(b, "]}"...)
}

// avroBody is an Avro object container file of n fresh readings, stamped
// now.
func (l *loader) avroBody(n int) []byte {
	now := time.Now().UTC()
	rs := make([]*schemas.SensorReading, n)
	for i := range rs {
		s := l.seq.Add(1)
		rs[i] = &schemas.SensorReading{ReadingID: schemas.NewUUID(), SensorID: fmt.Sprintf("http-%d", s%int64(l.cfg.Sensors)),
			AssetID: fmt.Sprintf("asset-%d", s%int64(l.cfg.Sensors)/4), SensorType: "temperature", TS: now, Value: 20 + float64(s%100)/10, Unit: "C", Quality: 100}
	}
	return schemas.AppendContainer(nil, rs)
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Print writes the report as tables.
func (r *HTTPReport) Print(w io.Writer) {
	fmt.Fprintf(w, "\nHTTP API under load (smaint serve in a child process; clients and broker in this one)\n")
	fmt.Fprintf(w, "  %-38s %10s %10s %9s %9s %9s  %s\n", "phase", "readings/s", "requests/s", "p50", "p99", "max", "answers")
	for _, p := range r.Phases {
		fmt.Fprintf(w, "  %-38s %10.0f %10.0f %9s %9s %9s  %s\n", p.Name, p.ReadingsPerSec, p.RequestsPerSec,
			p.P50.Round(10*time.Microsecond), p.P99.Round(10*time.Microsecond), p.Max.Round(10*time.Microsecond), statusLine(p.Status))
	}
	fmt.Fprintf(w, "\n  %-38s %7s  %-6s %s\n", "abuse", "sent", "want", "answers")
	for _, a := range r.Abuse {
		want := "-"
		if a.Want != 0 {
			want = strconv.Itoa(a.Want)
		}
		fmt.Fprintf(w, "  %-38s %7d  %-6s %s  %s\n", a.Name, a.Sent, want, statusLine(a.Status), a.Note)
	}
	fmt.Fprintf(w, "\n  readings accepted %d, on the readings topic %d (%s)\n", r.Accepted, r.OnTopic,
		map[bool]string{true: "equal", false: "NOT EQUAL"}[r.Accepted == r.OnTopic])
	fmt.Fprintf(w, "  after the abuse: %s\n", map[bool]string{true: "a valid POST got 202 and /v1/health 200", false: "NOT HEALTHY"}[r.HealthyAfter])
	fmt.Fprintf(w, "  server: %.1f s CPU, peak RSS %.0f MiB\n", r.ServerCPU, r.ServerPeakMB)
}

// statusLine is "202×n 429×m", by status.
func statusLine(m map[int]int64) string {
	codes := slices.Sorted(maps.Keys(m))
	var b []byte
	for i, c := range codes {
		if i > 0 {
			b = append(b, ' ')
		}
		name := strconv.Itoa(c)
		if c == 0 {
			name = "error"
		}
		b = fmt.Appendf(b, "%s×%d", name, m[c])
	}
	return string(b)
}

// WriteJSON writes the report, indented, to the file at path.
func (r *HTTPReport) WriteJSON(path string) error { return writeJSON(path, r) }
