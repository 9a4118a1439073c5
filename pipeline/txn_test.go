package pipeline_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// numberer numbers the readings of each input partition: its output for
// the n-th reading of a partition carries n as its value. The count is its
// state, checkpointed with the offsets, so a runner that resumes from the
// wrong offset, or with the wrong count, or that replays input whose
// outputs were kept, numbers some reading twice or skips a number.
type numberer struct {
	out   *pipeline.Output[*schemas.SensorReading]
	mu    sync.Mutex
	count map[pipeline.TopicPartition]int
}

func newNumberer() *numberer {
	return &numberer{out: pipeline.NewOutput[*schemas.SensorReading](outTopic), count: map[pipeline.TopicPartition]int{}}
}

func (c *numberer) Outputs() []pipeline.Port { return []pipeline.Port{c.out} }

func (c *numberer) Process(_ context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range in {
		tp := pipeline.TopicPartition{Topic: in[i].Topic, Partition: in[i].Partition}
		c.count[tp]++
		v := in[i].Value
		v.Value = float64(c.count[tp])
		c.out.Emit(out, strconv.Itoa(int(tp.Partition)), &v)
	}
	return nil
}

func (c *numberer) Checkpoint(tp pipeline.TopicPartition) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strconv.Itoa(c.count[tp])
}

func (c *numberer) Resume(tp pipeline.TopicPartition, cp string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count[tp], _ = strconv.Atoi(cp)
}

func (c *numberer) Revoked(_ context.Context, tps []pipeline.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		delete(c.count, tp)
	}
}

// checkNumbered fails unless the committed outputs number each of the n
// inputs once: per partition 1, 2, 3 ... with no gap and no repeat, and
// each reading once.
func checkNumbered(t *testing.T, h *harness, n int) {
	t.Helper()
	out := pipelinetest.ReadCommitted(t, h.addrs, outTopic)
	next := map[string]int{}
	ids := map[string]bool{}
	dec := schemas.NewSerde().NewDecoder()
	for _, r := range out {
		var v schemas.SensorReading
		if err := dec.Decode(context.Background(), r.Value, &v); err != nil {
			t.Fatal(err)
		}
		next[string(r.Key)]++
		if int(v.Value) != next[string(r.Key)] {
			t.Fatalf("partition %s: output numbered %v after %d", r.Key, v.Value, next[string(r.Key)]-1)
		}
		if ids[v.ReadingID] {
			t.Fatalf("reading %s output twice", v.ReadingID)
		}
		ids[v.ReadingID] = true
	}
	if len(ids) != n {
		t.Fatalf("%d readings output, want %d", len(ids), n)
	}
}

func produceReadings(t *testing.T, h *harness, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: inTopic, Key: []byte(strconv.Itoa(i)), Value: encode(t, reading(i))})
	}
	pipelinetest.Produce(t, h.admin, recs...)
}

func TestExactlyOnceCommitsOutputsWithOffsetsAndCheckpoints(t *testing.T) {
	h := newHarness(t, 3)
	produceReadings(t, h, 0, 600)
	stop := pipelinetest.Start(t, h.runner(newNumberer(), pipeline.ExactlyOnce("test-1")))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkNumbered(t, h, 600)
	if got := pipelinetest.Metric(t, h.reg, "smaint_transactions_total"); got < 1 {
		t.Errorf("%v transactions", got)
	}

	// A second run resumes from the committed offsets and checkpoints.
	produceReadings(t, h, 600, 900)
	stop = pipelinetest.Start(t, h.runner(newNumberer(), pipeline.ExactlyOnce("test-1")))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	checkNumbered(t, h, 900)
}

// A transaction whose commit fails is aborted, and the runner resumes from
// the last committed one: its outputs are produced again, the aborted
// copies are never seen by a reader of committed records, and the stage's
// state is rebuilt from the committed checkpoint.
func TestExactlyOnceAbortsAndRewindsWhenACommitFails(t *testing.T) {
	h := newHarness(t, 3)
	produceReadings(t, h, 0, 300)
	var failed atomic.Int32
	h.cluster.ControlKey(int16(kmsg.EndTxn), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		req := kreq.(*kmsg.EndTxnRequest)
		if !req.Commit || failed.Add(1) > 2 {
			h.cluster.KeepControl()
			return nil, nil, false
		}
		h.cluster.KeepControl()
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.TransactionAbortable.Code
		return resp, nil, true
	})
	stop := pipelinetest.Start(t, h.runner(newNumberer(), pipeline.ExactlyOnce("test-1")))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	produceReadings(t, h, 300, 500)
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if failed.Load() < 2 {
		t.Fatalf("%d commits refused; the test needs 2", failed.Load())
	}
	if got := pipelinetest.Metric(t, h.reg, "smaint_transactions_total"); got < 3 {
		t.Errorf("%v transactions ended, want the 2 aborted and at least 1 committed", got)
	}
	if all := pipelinetest.ReadAll(t, h.addrs, outTopic); len(all) <= 500 {
		t.Errorf("%d outputs in all; the aborted transactions' copies should be there too", len(all))
	}
	checkNumbered(t, h, 500)
}
