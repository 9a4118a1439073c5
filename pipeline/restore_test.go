package pipeline_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

const stateTopic = "relay.state"

// firstSeen remembers each sensor's first reading, which no replay of
// retained input rebuilds once committed past: it writes it to its state
// topic, and relays every reading with the first one's value.
type firstSeen struct {
	out      *pipeline.Output[*schemas.SensorReading]
	st       *pipeline.Output[*schemas.StageState]
	mu       sync.Mutex
	first    map[string]float64
	restored int
}

func newFirstSeen() *firstSeen {
	return &firstSeen{out: pipeline.NewOutput[*schemas.SensorReading](outTopic), st: pipeline.NewOutput[*schemas.StageState](stateTopic),
		first: map[string]float64{}}
}

func (s *firstSeen) Outputs() []pipeline.Port { return []pipeline.Port{s.out, s.st} }
func (s *firstSeen) StateTopic() string       { return stateTopic }

func (s *firstSeen) Restore(_ pipeline.TopicPartition, key string, value []byte) {
	v, err := strconv.ParseFloat(string(value), 64)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.first[key] = v
	s.restored++
	s.mu.Unlock()
}

func (s *firstSeen) Process(_ context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range in {
		m := &in[i]
		first, ok := s.first[m.Value.SensorID]
		if !ok {
			first = m.Value.Value
			s.first[m.Value.SensorID] = first
			s.st.EmitAt(out, m.Partition, m.Value.SensorID, &schemas.StageState{Key: m.Value.SensorID, Value: []byte(strconv.FormatFloat(first, 'g', -1, 64))})
		}
		r := m.Value
		r.Value = first
		s.out.Emit(out, r.SensorID, &r)
	}
	return nil
}

// TestRunnerRestoresStateAReplayCannot: a stage's state entries, written
// to its compacted state topic, come back to a new runner of the group
// before any record, for the partitions it is assigned.
func TestRunnerRestoresStateAReplayCannot(t *testing.T) {
	h := newHarness(t, 3)
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			r := reading(i)
			recs = append(recs, &kgo.Record{Topic: inTopic, Key: []byte(r.SensorID), Value: encode(t, r)})
		}
		pipelinetest.Produce(t, h.admin, recs...)
	}
	produce(0, 100)
	first := newFirstSeen()
	stop := pipelinetest.Start(t, h.runner(first, pipeline.ExactlyOnce("relay-tx")))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if len(first.first) != 7 || first.restored != 0 {
		t.Fatalf("first run: %d sensors, %d restored", len(first.first), first.restored)
	}
	produce(100, 200)
	second := newFirstSeen()
	stop = pipelinetest.Start(t, h.runner(second, pipeline.ExactlyOnce("relay-tx")))
	pipelinetest.WaitCommitted(t, h.admin, "smaint-relay", inTopic)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if second.restored != 7 {
		t.Errorf("restored %d entries, want 7", second.restored)
	}
	dec := schemas.NewSerde().NewDecoder()
	n := 0
	for _, rec := range pipelinetest.ReadCommitted(t, h.addrs, outTopic) {
		var r schemas.SensorReading
		if err := dec.Decode(context.Background(), rec.Value, &r); err != nil {
			t.Fatal(err)
		}
		if want := first.first[r.SensorID]; r.Value != want {
			t.Fatalf("%s relayed with %v, want its first value %v", r.SensorID, r.Value, want)
		}
		n++
	}
	if n != 200 {
		t.Errorf("%d relayed, want 200", n)
	}
	cfgs, err := kadm.NewClient(h.admin).DescribeTopicConfigs(context.Background(), stateTopic)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := cfgs.On(stateTopic, nil)
	if err != nil {
		t.Fatal(err)
	}
	compacted := false
	for _, c := range policy.Configs {
		compacted = compacted || c.Key == "cleanup.policy" && c.Value != nil && *c.Value == "compact"
	}
	if !compacted {
		t.Errorf("the state topic is not compacted: %+v", policy.Configs)
	}
}
