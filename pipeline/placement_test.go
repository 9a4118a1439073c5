package pipeline_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// placing emits each reading twice: at its input partition (to "placed",
// and to "narrow", which has fewer partitions) and by key (to "keyed").
type placing struct {
	placed, narrow, keyed *pipeline.Output[*schemas.SensorReading]
}

func (s *placing) Outputs() []pipeline.Port { return []pipeline.Port{s.placed, s.narrow, s.keyed} }

func (s *placing) Process(_ context.Context, in []pipeline.Msg[schemas.SensorReading], out *pipeline.Emitter) error {
	for i := range in {
		m := &in[i]
		s.placed.EmitAt(out, m.Partition, m.Value.SensorID, &m.Value)
		s.narrow.EmitAt(out, m.Partition, m.Value.SensorID, &m.Value)
		s.keyed.Emit(out, m.Value.SensorID, &m.Value)
	}
	return nil
}

// TestEmitAtKeepsTheInputPartition: records emitted with EmitAt land on
// the partition of their input whatever their key hashes to, and by key
// where the topic lacks that partition (and the runner warns of such a
// topic); Emit places by key (murmur2, as Kafka's Java client does).
func TestEmitAtKeepsTheInputPartition(t *testing.T) {
	h := newHarness(t, 4)
	pipelinetest.CreateTopic(t, h.admin, 4, "placed", "keyed")
	pipelinetest.CreateTopic(t, h.admin, 2, "narrow")
	// Every reading of sensor s-i on input partition i%4, whatever
	// murmur2 says: as a producer with another partitioner would.
	var recs []*kgo.Record
	for i := range 40 {
		r := reading(i)
		r.SensorID = "s-" + string(rune('a'+i%8))
		recs = append(recs, &kgo.Record{Topic: inTopic, Partition: int32(i % 8 % 4), Key: []byte(r.SensorID), Value: encode(t, r)})
	}
	manual := pipelinetest.Client(t, h.addrs, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	pipelinetest.Produce(t, manual, recs...)

	s := &placing{pipeline.NewOutput[*schemas.SensorReading]("placed"), pipeline.NewOutput[*schemas.SensorReading]("narrow"),
		pipeline.NewOutput[*schemas.SensorReading]("keyed")}
	var logs pipelinetest.Logs
	stop := pipelinetest.Start(t, h.runner(s, pipeline.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil)))))
	pipelinetest.Eventually(t, "outputs", func() bool {
		return len(pipelinetest.ReadAll(t, h.addrs, "keyed")) == len(recs)
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	hash := kgo.StickyKeyPartitioner(nil).ForTopic("")
	moved := 0
	for _, topic := range []string{"placed", "narrow", "keyed"} {
		got := pipelinetest.ReadAll(t, h.addrs, topic)
		if len(got) != len(recs) {
			t.Fatalf("%s: %d records, want %d", topic, len(got), len(recs))
		}
		for _, r := range got {
			input := int32(int(r.Key[2]-'a') % 4)
			want := input
			switch {
			case topic == "keyed":
				want = int32(hash.Partition(r, 4))
			case topic == "narrow" && input >= 2:
				want = int32(hash.Partition(r, 2))
			}
			if r.Partition != want {
				t.Fatalf("%s: %s at partition %d, want %d", topic, r.Key, r.Partition, want)
			}
			if topic == "keyed" && want != input {
				moved++
			}
		}
	}
	if !strings.Contains(logs.String(), `"output":"narrow"`) || strings.Contains(logs.String(), `"output":"placed"`) {
		t.Errorf("want a warning about narrow alone, logged:\n%s", logs.String())
	}
	if moved == 0 {
		t.Fatal("murmur2 put every sensor where the producer did: the test shows nothing")
	}
}
