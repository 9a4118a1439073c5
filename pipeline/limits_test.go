package pipeline_test

import (
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// bigReading is reading i with a unit of n random bytes (in base64, so
// that compression does not shrink it much).
func bigReading(t *testing.T, i, n int) *kgo.Record {
	raw := make([]byte, n*3/4)
	for j := range raw {
		raw[j] = byte(rand.IntN(256))
	}
	r := reading(i)
	r.Unit = base64.StdEncoding.EncodeToString(raw)
	return &kgo.Record{Topic: inTopic, Value: encode(t, r)}
}

// An output over MaxRecordBytes is never produced: it goes to the
// dead-letter topic, truncated, with its size and its topic, and the
// stage goes on with the next records.
func TestRunnerDeadLettersAnOutputTooLargeAndGoesOn(t *testing.T) {
	h := newHarness(t, 1)
	pipelinetest.Start(t, h.runner(newRelay(), pipeline.MaxRecordBytes(64<<10)))
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))})
	pipelinetest.Produce(t, h.admin, bigReading(t, 2, 200<<10))
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(3))})
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)

	if out := pipelinetest.ReadAll(t, h.addrs, outTopic); len(out) != 2 {
		t.Fatalf("%d outputs, want the 2 small readings", len(out))
	}
	dlq := pipelinetest.ReadAll(t, h.addrs, dlqTopic)
	if len(dlq) != 1 {
		t.Fatalf("%d dead letters, want 1", len(dlq))
	}
	d := dlq[0]
	size, _ := strconv.Atoi(pipelinetest.Header(d, pipeline.HeaderOriginalSize))
	if pipelinetest.Header(d, pipeline.HeaderErrorKind) != pipeline.KindTooLarge || pipelinetest.Header(d, pipeline.HeaderTargetTopic) != outTopic ||
		size < 200<<10 || len(d.Value) != 16<<10 || !strings.Contains(pipelinetest.Header(d, pipeline.HeaderError), "over the 65536 bytes") {
		t.Fatalf("dead letter: kind %q, target %q, original size %d, %d bytes kept, error %q", pipelinetest.Header(d, pipeline.HeaderErrorKind),
			pipelinetest.Header(d, pipeline.HeaderTargetTopic), size, len(d.Value), pipelinetest.Header(d, pipeline.HeaderError))
	}
	if got := pipelinetest.Metric(t, h.reg, "smaint_records_dlq_total"); got != 1 {
		t.Errorf("smaint_records_dlq_total %v", got)
	}
}

// An output the brokers refuse for good (here: the output topic's limit
// was lowered while the stage ran) goes to the dead-letter topic instead
// of stopping the stage, which would stop again on every restart.
func TestRunnerDeadLettersWhatTheBrokersRefuse(t *testing.T) {
	h := newHarness(t, 1)
	pipelinetest.CreateTopic(t, h.admin, 1, outTopic)
	stop := pipelinetest.Start(t, h.runner(newRelay()))
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))})
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)

	limit := "20000"
	resp, err := kadm.NewClient(h.admin).AlterTopicConfigs(pipelinetest.Context(t),
		[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &limit}}, outTopic)
	if err == nil {
		_, err = resp.On(outTopic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	pipelinetest.Produce(t, h.admin, bigReading(t, 2, 50<<10))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(3))})
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)

	if out := pipelinetest.ReadAll(t, h.addrs, outTopic); len(out) != 2 {
		t.Fatalf("%d outputs, want the 2 small readings", len(out))
	}
	dlq := pipelinetest.ReadAll(t, h.addrs, dlqTopic)
	if len(dlq) != 1 || pipelinetest.Header(dlq[0], pipeline.HeaderErrorKind) != pipeline.KindTooLarge ||
		!strings.Contains(pipelinetest.Header(dlq[0], pipeline.HeaderError), "MESSAGE_TOO_LARGE") {
		t.Fatalf("%d dead letters: %+v", len(dlq), dlq)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A topic that takes less than MaxRecordBytes would refuse whole batches;
// the runner says so at the start, with the fix, and does not retry.
func TestRunnerRefusesToStartWhenATopicTakesLess(t *testing.T) {
	h := newHarness(t, 1)
	limit := "100000"
	resp, err := kadm.NewClient(h.admin).CreateTopics(pipelinetest.Context(t), 1, 1, map[string]*string{"max.message.bytes": &limit}, outTopic)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	err = h.runner(newRelay()).Run(pipelinetest.Context(t))
	if !errors.Is(err, pipeline.ErrConfig) || !strings.Contains(err.Error(), "topic out takes records of at most 100000 bytes") ||
		!strings.Contains(err.Error(), "--max-record-bytes") {
		t.Fatalf("Run: %v", err)
	}
	stop := pipelinetest.Start(t, h.runner(newRelay(), pipeline.MaxRecordBytes(100000)))
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: encode(t, reading(1))})
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatalf("with MaxRecordBytes at the topic's limit: %v", err)
	}
}

// A dead letter never carries more than 64 KiB of its input: a record too
// large to decode must not make a dead letter too large to produce.
func TestDeadLettersOfLargeInputsAreTruncated(t *testing.T) {
	h := newHarness(t, 1)
	pipelinetest.Start(t, h.runner(newRelay()))
	garbage := make([]byte, 300<<10)
	for i := range garbage {
		garbage[i] = byte(rand.IntN(256))
	}
	pipelinetest.Produce(t, h.admin, &kgo.Record{Topic: inTopic, Value: garbage})
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	dlq := pipelinetest.ReadAll(t, h.addrs, dlqTopic)
	if len(dlq) != 1 {
		t.Fatalf("%d dead letters", len(dlq))
	}
	d := dlq[0]
	if len(d.Value) != 64<<10 || string(d.Value) != string(garbage[:64<<10]) ||
		pipelinetest.Header(d, pipeline.HeaderOriginalSize) != strconv.Itoa(300<<10) || pipelinetest.Header(d, pipeline.HeaderErrorKind) != pipeline.KindDecode {
		t.Fatalf("dead letter of %d bytes, original size %q, kind %q", len(d.Value), pipelinetest.Header(d, pipeline.HeaderOriginalSize), pipelinetest.Header(d, pipeline.HeaderErrorKind))
	}
}
