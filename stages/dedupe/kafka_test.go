package dedupe_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/redisstore"
	"github.com/smaint/smaint/stages/dedupe"
)

var topics = pipeline.DefaultTopics()

// input is a stream of raw records with what the dedupe stage must make
// of it: the reading ids that must come out, and how many dead letters.
type input struct {
	records  []*kgo.Record
	unique   map[string]bool
	dups     int
	bad      int
	produced int
}

// makeInput builds n valid readings over 12 sensors, then re-sends dups of
// them (as a retrying producer would: same key, same bytes) and adds bad
// records: garbage, truncated values, invalid readings.
func makeInput(t testing.TB, n, dups, bad int) *input {
	t.Helper()
	enc, err := schemas.NewSerde().NewEncoder(context.Background(), schemas.SensorReadingSchema, "")
	if err != nil {
		t.Fatal(err)
	}
	in := &input{unique: map[string]bool{}, dups: dups, bad: bad}
	now := time.Now().UTC()
	for i := range n {
		r := &schemas.SensorReading{ReadingID: id(i), SensorID: fmt.Sprintf("sensor-%02d", i%12), AssetID: "asset-1",
			SensorType: "vibration", TS: now.Add(-time.Duration(n-i) * time.Millisecond), Value: math.Sin(float64(i)),
			Unit: "mm/s", Quality: 95}
		v, _ := enc.Append(nil, r)
		in.records = append(in.records, &kgo.Record{Topic: topics.Readings, Key: []byte(r.SensorID), Value: v})
		in.unique[r.ReadingID] = true
		if i < dups { // a duplicate re-sent a little later in the stream
			defer func(rec *kgo.Record) {
				in.records = append(in.records, &kgo.Record{Topic: topics.Readings, Key: rec.Key, Value: rec.Value})
			}(in.records[len(in.records)-1])
		}
	}
	for i := range bad {
		var v []byte
		switch i % 4 {
		case 0:
			v = []byte(fmt.Sprintf(`{"reading_id":"json-%d"}`, i))
		case 1:
			good, _ := enc.Append(nil, &schemas.SensorReading{ReadingID: id(1_000_000 + i), SensorID: "x"})
			v = good[:len(good)-4]
		case 2:
			v, _ = enc.Append(nil, &schemas.SensorReading{ReadingID: id(1_000_000 + i), SensorID: "x", AssetID: "a",
				SensorType: "t", TS: now, Value: math.NaN(), Quality: 50})
		case 3:
			v, _ = enc.Append(nil, &schemas.SensorReading{ReadingID: "not-a-uuid", SensorID: "x", AssetID: "a",
				SensorType: "t", TS: now, Value: 1, Quality: 50})
		}
		in.records = append(in.records, &kgo.Record{Topic: topics.Readings, Key: []byte("bad"), Value: v})
	}
	return in
}

// produceInput writes the input (duplicates land after their originals:
// deferred appends ran when makeInput returned).
func produceInput(t testing.TB, cl *kgo.Client, in *input) {
	t.Helper()
	pipelinetest.Produce(t, cl, in.records...)
	in.produced = len(in.records)
}

func dedupeRunner(t testing.TB, addrs []string, mode func(*dedupe.Config), opts ...pipeline.Option) *pipeline.Runner[schemas.SensorReading] {
	t.Helper()
	var cfg dedupe.Config
	if mode != nil {
		mode(&cfg)
	}
	s, err := dedupe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := []pipeline.Option{
		pipeline.KafkaOpts(kgo.SeedBrokers(addrs...)),
		pipeline.ConsumeTopics(topics.Readings),
		pipeline.CreateTopics(4, 1),
		pipeline.CommitInterval(100 * time.Millisecond),
		pipeline.MaxBatch(500),
	}
	r, err := pipeline.NewRunner("dedupe", pipeline.Stage[schemas.SensorReading](s), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// cleanIDs reads the clean topic and counts each reading id on it.
func cleanIDs(t testing.TB, addrs []string) map[string]int {
	t.Helper()
	d := schemas.NewSerde().NewDecoder()
	out := map[string]int{}
	for _, rec := range pipelinetest.ReadAll(t, addrs, topics.Clean) {
		var r schemas.SensorReading
		if err := d.Decode(context.Background(), rec.Value, &r); err != nil {
			t.Fatalf("clean topic holds an undecodable value: %v", err)
		}
		if string(rec.Key) != r.SensorID {
			t.Fatalf("clean record keyed %q for sensor %q", rec.Key, r.SensorID)
		}
		out[r.ReadingID]++
	}
	return out
}

func runUntil(t *testing.T, r *pipeline.Runner[schemas.SensorReading]) (stop func()) {
	run := pipelinetest.Start(t, r)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if err := run(); err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// modes returns the store configurations to test on Kafka: both store
// shapes on miniredis, and on the real Redis.
func modes(t *testing.T) map[string]func(*testing.T) func(*dedupe.Config) {
	return map[string]func(*testing.T) func(*dedupe.Config){
		"log/miniredis": func(t *testing.T) func(*dedupe.Config) {
			_, rdb := newMiniredis(t)
			return logs(redisstore.NewLogStore(rdb, ""))
		},
		"claims/miniredis": func(t *testing.T) func(*dedupe.Config) {
			_, rdb := newMiniredis(t)
			return claims(redisstore.NewClaimStore(rdb, ""))
		},
		"log/redis": func(t *testing.T) func(*dedupe.Config) {
			rdb := realRedis(t)
			return logs(redisstore.NewLogStore(rdb, testPrefix(t, rdb)))
		},
		"claims/redis": func(t *testing.T) func(*dedupe.Config) {
			rdb := realRedis(t)
			return claims(redisstore.NewClaimStore(rdb, testPrefix(t, rdb)))
		},
	}
}

// N records produced, of which D duplicates and B bad, leave exactly N-D-B
// clean readings and B dead letters, none lost: two instances share the
// group, in every store mode.
func TestTwoInstancesOnKafkaCountExactly(t *testing.T) {
	for name, mk := range modes(t) {
		t.Run(name, func(t *testing.T) {
			store := mk(t)
			c := pipelinetest.Cluster(t)
			addrs := c.ListenAddrs()
			admin := pipelinetest.Client(t, addrs)
			in := makeInput(t, 3000, 250, 40)

			h1, h2 := pipeline.NewHealth(), pipeline.NewHealth()
			stop1 := runUntil(t, dedupeRunner(t, addrs, store, pipeline.WithHealth(h1)))
			stop2 := runUntil(t, dedupeRunner(t, addrs, store, pipeline.WithHealth(h2)))
			waitReady(t, h1, h2)
			produceInput(t, admin, in)
			pipelinetest.WaitCommitted(t, admin, "smaint-dedupe", topics.Readings)
			stop1()
			stop2()

			n, d, b := in.produced, in.dups, in.bad
			got := cleanIDs(t, addrs)
			total := 0
			for id, k := range got {
				total += k
				if !in.unique[id] {
					t.Errorf("unexpected id %s on the clean topic", id)
				}
				if k > 1 {
					t.Errorf("id %s passed %d times", id, k)
				}
			}
			lost := 0
			for id := range in.unique {
				if got[id] == 0 {
					lost++
				}
			}
			if total != n-d-b || lost != 0 {
				t.Fatalf("produced %d (%d duplicates, %d bad): %d clean, want %d; %d lost", n, d, b, total, n-d-b, lost)
			}
			if dlq := pipelinetest.ReadAll(t, addrs, topics.DLQ); len(dlq) != b {
				t.Fatalf("%d dead letters, want %d", len(dlq), b)
			}
		})
	}
}

func waitReady(t *testing.T, hs ...*pipeline.Health) {
	t.Helper()
	deadline := pipelinetest.Deadline(t)
	for _, h := range hs {
		for {
			if _, ok := h.Report(); ok {
				break
			}
			if time.Now().After(deadline) {
				comps, _ := h.Report()
				t.Fatalf("runner not ready: %+v", comps)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestKilledConsumerLosesNothing runs the dedupe runner in a child process
// that SIGKILLs itself at the worst moment: right after its 20th batch was
// processed (its reading ids claimed in Redis) and before any output of
// that batch was produced or its offsets committed. A second child then
// finishes the input. Every valid unique reading must reach the clean
// topic: replayed input may appear twice (at-least-once), never zero times.
func TestKilledConsumerLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	for _, mode := range []string{"log", "claims"} {
		t.Run(mode, func(t *testing.T) { testKill(t, mode) })
	}
}

func testKill(t *testing.T, mode string) {
	mr := miniredis.RunT(t)
	c := pipelinetest.Cluster(t, kfake.GroupMinSessionTimeout(100*time.Millisecond))
	addrs := c.ListenAddrs()
	admin := pipelinetest.Client(t, addrs)
	in := makeInput(t, 20_000, 1_000, 20)
	pipelinetest.CreateTopic(t, admin, 4, topics.Readings)
	produceInput(t, admin, in)

	first := startChild(t, addrs, mr.Addr(), mode, "20")
	err := first.Wait()
	if ws, ok := first.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("first child did not die by SIGKILL: %v", err)
	}
	atKill := len(pipelinetest.ReadAll(t, addrs, topics.Clean))
	if remembered := storedIDs(t, mr, mode); remembered <= atKill {
		t.Fatalf("%d ids in Redis, %d on the clean topic: the kill did not fall between store write and produce", remembered, atKill)
	}

	second := startChild(t, addrs, mr.Addr(), mode, "")
	pipelinetest.WaitCommitted(t, admin, "smaint-dedupe", topics.Readings)
	_ = second.Process.Signal(syscall.SIGTERM)
	_ = second.Wait()

	got := cleanIDs(t, addrs)
	lost, twice := 0, 0
	for id := range in.unique {
		switch {
		case got[id] == 0:
			lost++
		case got[id] > 1:
			twice++
		}
	}
	t.Logf("killed with %d clean readings out; %d unique ids, %d lost, %d delivered twice after the replay", atKill, len(in.unique), lost, twice)
	if lost != 0 {
		t.Fatalf("%d readings lost across the kill", lost)
	}
	if len(got) != len(in.unique) {
		t.Fatalf("%d distinct ids on the clean topic, want %d", len(got), len(in.unique))
	}
}

// storedIDs counts the reading ids the store holds.
func storedIDs(t *testing.T, mr *miniredis.Miniredis, mode string) int {
	if mode == "claims" {
		return len(mr.Keys())
	}
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	n := 0
	for p := range int32(4) {
		tp := pipeline.TopicPartition{Topic: topics.Readings, Partition: p}
		err := redisstore.NewLogStore(rdb, "").Restore(context.Background(), tp, time.Now().Add(-time.Minute), 10*time.Minute,
			func(dedupe.LogEntry, time.Time) { n++ })
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func startChild(t *testing.T, addrs []string, redisAddr, mode, dieAfter string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildDedupe$", "-test.v")
	cmd.Env = append(os.Environ(), "SMAINT_CHILD_BROKERS="+strings.Join(addrs, ","),
		"SMAINT_CHILD_REDIS="+redisAddr, "SMAINT_CHILD_MODE="+mode, "SMAINT_CHILD_DIE_AFTER="+dieAfter)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("child stderr:\n%s", stderr.String())
		}
	})
	return cmd
}

// suicidal wraps a stage and SIGKILLs its own process after the given
// number of batches, before the runner can produce their outputs.
type suicidal struct {
	*dedupe.Stage
	left int
}

func (s *suicidal) Process(ctx context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	err := s.Stage.Process(ctx, in, out)
	if s.left--; s.left == 0 {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return err
}

// TestChildDedupe is the child of TestKilledConsumerLosesNothing; run on
// its own it skips.
func TestChildDedupe(t *testing.T) {
	brokers := os.Getenv("SMAINT_CHILD_BROKERS")
	if brokers == "" {
		t.Skip("child process of TestKilledConsumerLosesNothing")
	}
	rdb := redis.NewClient(&redis.Options{Addr: os.Getenv("SMAINT_CHILD_REDIS")})
	cfg := dedupe.Config{Log: redisstore.NewLogStore(rdb, "")}
	if os.Getenv("SMAINT_CHILD_MODE") == "claims" {
		cfg = dedupe.Config{Claims: redisstore.NewClaimStore(rdb, "")}
	}
	s, err := dedupe.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stage pipeline.Stage[schemas.SensorReading] = s
	if n, _ := strconv.Atoi(os.Getenv("SMAINT_CHILD_DIE_AFTER")); n > 0 {
		stage = &suicidal{Stage: s, left: n}
	}
	r, err := pipeline.NewRunner("dedupe", stage,
		pipeline.KafkaOpts(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.SessionTimeout(time.Second), kgo.HeartbeatInterval(200*time.Millisecond)),
		pipeline.ConsumeTopics(topics.Readings),
		pipeline.CommitInterval(100*time.Millisecond),
		pipeline.MaxBatch(200))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := signalContext()
	defer cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 1)
	signalNotify(ch)
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// TestKcatReadsCleanTopic checks interop with a real third-party client:
// Debian's kcat (librdkafka) lists the topics and consumes the clean topic,
// which dedupe wrote exactly once (in transactions, with their markers),
// reading committed records as a consumer downstream should, and reading
// everything.
func TestKcatReadsCleanTopic(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if pipelinetest.Required() {
			t.Fatal("kcat not installed (make test-deps installs it)")
		}
		t.Skip("kcat not installed; make test-deps installs it")
	}
	c := pipelinetest.Cluster(t)
	addrs := c.ListenAddrs()
	admin := pipelinetest.Client(t, addrs)
	in := makeInput(t, 200, 20, 4)
	stop := runUntil(t, dedupeRunner(t, addrs, nil, pipeline.ExactlyOnce("kcat-test")))
	produceInput(t, admin, in)
	pipelinetest.WaitCommitted(t, admin, "smaint-dedupe", topics.Readings)
	stop()

	ctx := pipelinetest.Context(t)
	list, err := exec.CommandContext(ctx, kcat, "-b", addrs[0], "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, list)
	}
	for _, topic := range []string{topics.Readings, topics.Clean, topics.DLQ} {
		if !bytes.Contains(list, []byte(`topic "`+topic+`"`)) {
			t.Errorf("kcat -L does not list %s:\n%s", topic, list)
		}
	}
	for _, isolation := range []string{"read_committed", "read_uncommitted"} {
		out, err := exec.CommandContext(ctx, kcat, "-b", addrs[0], "-C", "-t", topics.Clean, "-o", "beginning", "-e",
			"-X", "isolation.level="+isolation, "-f", "%k %S\n").Output()
		if err != nil {
			t.Fatalf("kcat -C (%s): %v", isolation, err)
		}
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), "sensor-") {
				t.Fatalf("unexpected kcat line %q", sc.Text())
			}
			lines++
		}
		if want := in.produced - in.dups - in.bad; lines != want {
			t.Fatalf("kcat (%s) consumed %d records from %s, want %d", isolation, lines, topics.Clean, want)
		}
	}
}

// TestOversizedReadingsAreDeadLetteredAndDedupeGoesOn: a 5 MB and a 900 KB
// reading (on a readings topic that takes 8 MB records, as a producer's
// broker might) are invalid: each goes to the dead-letter topic, its value
// truncated to 64 KiB with its size in a header, and the readings around
// them reach the clean topic. Before, the 5 MB reading's clean copy was
// over what the brokers take, and its produce failure stopped dedupe on
// every restart.
func TestOversizedReadingsAreDeadLetteredAndDedupeGoesOn(t *testing.T) {
	c := pipelinetest.Cluster(t)
	addrs := c.ListenAddrs()
	admin := pipelinetest.Client(t, addrs, kgo.ProducerBatchMaxBytes(8<<20))
	limit := strconv.Itoa(8 << 20)
	resp, err := kadm.NewClient(admin).CreateTopics(pipelinetest.Context(t), 4, 1, map[string]*string{"max.message.bytes": &limit}, topics.Readings)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	in := makeInput(t, 100, 0, 0)
	enc, err := schemas.NewSerde().NewEncoder(context.Background(), schemas.SensorReadingSchema, "")
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range []int{5 << 20, 900 << 10} {
		r := &schemas.SensorReading{ReadingID: id(500_000 + i), SensorID: "sensor-big", AssetID: "asset-1", SensorType: "vibration",
			TS: time.Now().UTC(), Value: 1, Unit: "mm/s", Quality: 95, Tags: map[string]string{"note": strings.Repeat("x", n)}}
		v, _ := enc.Append(nil, r)
		in.records = append(in.records[:50], append([]*kgo.Record{{Topic: topics.Readings, Key: []byte("sensor-big"), Value: v}}, in.records[50:]...)...)
	}
	produceInput(t, admin, in)
	runUntil(t, dedupeRunner(t, addrs, nil))
	pipelinetest.WaitCommitted(t, admin, "smaint-dedupe", topics.Readings)

	if got := cleanIDs(t, addrs); len(got) != 100 {
		t.Fatalf("%d readings on the clean topic, want the 100 valid ones", len(got))
	}
	dlq := pipelinetest.ReadAll(t, addrs, topics.DLQ)
	if len(dlq) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dlq))
	}
	for _, d := range dlq {
		orig, _ := strconv.Atoi(pipelinetest.Header(d, pipeline.HeaderOriginalSize))
		if pipelinetest.Header(d, pipeline.HeaderErrorKind) != pipeline.KindInvalid || len(d.Value) != 64<<10 || orig < 900<<10 ||
			!strings.Contains(pipelinetest.Header(d, pipeline.HeaderError), "--max-reading-bytes") {
			t.Errorf("dead letter: kind %q, %d bytes kept of %d, error %q", pipelinetest.Header(d, pipeline.HeaderErrorKind), len(d.Value), orig,
				pipelinetest.Header(d, pipeline.HeaderError))
		}
	}
}
