package pipeline_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

func TestWatcherReadsEveryRecordFromTheStart(t *testing.T) {
	h := newHarness(t, 3)
	pipelinetest.CreateTopic(t, h.admin, 2, "other")
	var recs []*kgo.Record
	for i := range 300 {
		topic := inTopic
		if i%3 == 0 {
			topic = "other"
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte{byte(i % 7)}, Value: []byte{byte(i)}})
	}
	pipelinetest.Produce(t, h.admin, recs...)

	var mu sync.Mutex
	seen := map[string]int{}
	w, err := pipeline.NewWatcher(func(o *pipeline.Observed) {
		mu.Lock()
		seen[o.Topic]++
		mu.Unlock()
	}, []string{inTopic, "other"}, pipeline.KafkaOpts(kgo.SeedBrokers(h.addrs...)))
	if err != nil {
		t.Fatal(err)
	}
	stop := pipelinetest.Start(t, w)
	ctx := context.Background()
	for {
		caught, err := w.CaughtUp(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if caught {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if seen[inTopic] != 200 || seen["other"] != 100 {
		t.Fatalf("seen %v, want 200 of %s and 100 of other", seen, inTopic)
	}
	if _, err := pipeline.NewWatcher(func(*pipeline.Observed) {}, nil, pipeline.KafkaOpts(kgo.SeedBrokers(h.addrs...))); err == nil {
		t.Error("a watcher of no topics")
	}
}
