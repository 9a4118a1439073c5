package interop_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/bench/plant"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

func TestMain(m *testing.M) { plant.Main(m) }

const (
	sensors = 24
	seconds = 800 // one reading a second a sensor: 19,200 readings
	clients = "../../deploy/clients/python/"
)

// TestLibrdkafkaProducerReadingsAreOnTime produces readings with Python's
// confluent-kafka, whose librdkafka partitions keys by CRC32, not by
// Kafka's murmur2, and requires every one of them on time, counted once in
// a window, and readable from Python again: both with smaint already
// running as they arrive, and with a backlog (the producer ran first, as
// after any downtime).
func TestLibrdkafkaProducerReadingsAreOnTime(t *testing.T) {
	py := pipelinetest.Python(t, "confluent_kafka", "avro")
	for _, backlog := range []bool{false, true} {
		t.Run(map[bool]string{false: "live", true: "backlog"}[backlog], func(t *testing.T) {
			p := plant.New(t, nil, nil)
			var pr *plant.Proc
			if !backlog {
				pr = p.Run("pod-1")
				plant.WaitReady(t, pr)
			}
			produce(t, py, p.Addr)
			if backlog {
				pr = p.Run("pod-1")
			}
			p.Settled(pr)
			pr.Stop(t)

			n := sensors * seconds
			topics := pipeline.DefaultTopics()
			if late := pipelinetest.ReadCommitted(t, []string{p.Addr}, topics.Late); len(late) != 0 {
				t.Errorf("%d of %d on-time readings went to %s", len(late), n, topics.Late)
			}
			var counted, lateCounted int64
			windows := decodeAll[schemas.FeatureVector](t, pipelinetest.ReadCommitted(t, []string{p.Addr}, topics.Features))
			for _, fv := range windows {
				counted += fv.Count
				lateCounted += fv.LateCount
			}
			if lateCounted != 0 {
				t.Errorf("windows counted %d late readings", lateCounted)
			}
			if counted != int64(n) {
				t.Errorf("windows counted %d readings, want %d", counted, n)
			}
			if rep := p.Audit(); rep.Readings != int64(n) {
				t.Errorf("audit: %d readings, want %d", rep.Readings, n)
			}

			// Python reads what smaint wrote: every reading once, on the
			// partition its producer chose.
			produced := map[string]int32{}
			for _, r := range pipelinetest.ReadAll(t, []string{p.Addr}, topics.Readings) {
				produced[string(r.Key)] = r.Partition
			}
			if got := consume(t, py, p.Addr, topics.Features, schemaFile(t, "FeatureVector")); len(got) != len(windows) {
				t.Errorf("Python read %d windows, want %d", len(got), len(windows))
			}
			got := consume(t, py, p.Addr, topics.Clean, schemaFile(t, "SensorReading"))
			if len(got) != n {
				t.Fatalf("Python read %d clean readings, want %d", len(got), n)
			}
			ids := map[string]bool{}
			for _, r := range got {
				ids[r.Value["reading_id"].(string)] = true
				if want := produced[r.Key]; r.Partition != want {
					t.Fatalf("%s on clean partition %d, produced to %d", r.Key, r.Partition, want)
				}
			}
			if len(ids) != n {
				t.Errorf("%d distinct reading ids, want %d", len(ids), n)
			}
		})
	}
}

// produce runs the example producer against addr.
func produce(t *testing.T, py, addr string) {
	t.Helper()
	start := time.Now().Add(-time.Hour).Truncate(time.Minute)
	cmd := exec.Command(py, clients+"produce_readings.py", "--brokers", addr, "--schema", schemaFile(t, "SensorReading"),
		"--sensors", strconv.Itoa(sensors), "--seconds", strconv.Itoa(seconds), "--start", strconv.FormatInt(start.Unix(), 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("produce_readings.py: %v\n%s", err, out)
	}
}

type consumed struct {
	Partition int32          `json:"partition"`
	Key       string         `json:"key"`
	Value     map[string]any `json:"value"`
}

// schemaFile writes the schema of record as smaint schemas print gives it,
// as the README tells a producer to, and returns the file.
func schemaFile(t *testing.T, record string) string {
	t.Helper()
	out, err := exec.Command(plant.Binary(t), "schemas", "print", record).Output()
	if err != nil {
		t.Fatalf("smaint schemas print %s: %v", record, err)
	}
	file := filepath.Join(t.TempDir(), record+".avsc")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// consume runs the example consumer over topic to its end, reading values
// with the schema file.
func consume(t *testing.T, py, addr, topic, schema string) []consumed {
	t.Helper()
	cmd := exec.Command(py, clients+"consume.py", "--brokers", addr, "--topic", topic, "--schema", schema, "--until-end")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("consume.py: %v\n%s", err, stderr.String())
	}
	var recs []consumed
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r consumed
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("consume.py printed %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if !strings.Contains(stderr.String(), "consumed") {
		t.Fatalf("consume.py: %s", stderr.String())
	}
	return recs
}

// decodeAll decodes recs as T.
func decodeAll[T any, P interface {
	*T
	schemas.Record
}](t *testing.T, recs []*kgo.Record) []T {
	t.Helper()
	dec := schemas.NewSerde().NewDecoder()
	out := make([]T, len(recs))
	for i, r := range recs {
		if err := dec.Decode(context.Background(), r.Value, P(&out[i])); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
