package pipeline_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/redisstore"
	"github.com/smaint/smaint/stages/dedupe"
)

const benchRecords = 300_000

// loadInput produces benchRecords readings of 1,000 sensors to inTopic.
func loadInput(b *testing.B, admin *kgo.Client) {
	b.Helper()
	enc, _ := schemas.NewSerde().NewEncoder(context.Background(), schemas.SensorReadingSchema, "")
	now := time.Now().UTC()
	recs := make([]*kgo.Record, 0, benchRecords)
	for i := range benchRecords {
		r := schemas.SensorReading{ReadingID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), SensorID: fmt.Sprintf("sensor-%04d", i%1000),
			AssetID: fmt.Sprintf("asset-%03d", i%100), SensorType: "vibration", TS: now, Value: float64(i), Unit: "mm/s", Quality: 90}
		v, _ := enc.Append(nil, &r)
		recs = append(recs, &kgo.Record{Topic: inTopic, Key: []byte(r.SensorID), Value: v})
	}
	pipelinetest.Produce(b, admin, recs...)
}

// BenchmarkRunner measures readings through kfake: consume, decode, the
// stage, encode, produce, commit; one op is benchRecords readings. kfake
// runs in the same process, so its work is in the figures too.
func BenchmarkRunner(b *testing.B) {
	stages := map[string]func(b *testing.B) pipeline.Stage[schemas.SensorReading]{
		"relay": func(*testing.B) pipeline.Stage[schemas.SensorReading] { return newRelay() },
		"dedupe-local": func(b *testing.B) pipeline.Stage[schemas.SensorReading] {
			s, _ := dedupe.New(dedupe.Config{CleanTopic: outTopic})
			return s
		},
		"dedupe-redis-log": func(b *testing.B) pipeline.Stage[schemas.SensorReading] {
			rdb := pipelinetest.Redis(b)
			s, _ := dedupe.New(dedupe.Config{CleanTopic: outTopic, Log: redisstore.NewLogStore(rdb, fmt.Sprintf("smaint-bench:%d:", time.Now().UnixNano()))})
			return s
		},
	}
	for _, name := range []string{"relay", "dedupe-local", "dedupe-redis-log"} {
		b.Run(name, func(b *testing.B) {
			var readings, mallocs uint64
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				c := pipelinetest.Cluster(b)
				admin := pipelinetest.Client(b, c.ListenAddrs())
				pipelinetest.CreateTopic(b, admin, 6, inTopic)
				loadInput(b, admin)
				r, err := pipeline.NewRunner[schemas.SensorReading]("bench", stages[name](b),
					pipeline.KafkaOpts(kgo.SeedBrokers(c.ListenAddrs()...)), pipeline.ConsumeTopics(inTopic),
					pipeline.CreateTopics(6, 1), pipeline.CommitInterval(100*time.Millisecond))
				if err != nil {
					b.Fatal(err)
				}
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				start := time.Now()
				b.StartTimer()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- r.Run(ctx) }()
				pipelinetest.WaitCommitted(b, admin, "smaint-bench", inTopic)
				b.StopTimer()
				elapsed += time.Since(start)
				runtime.ReadMemStats(&ms1)
				mallocs += ms1.Mallocs - ms0.Mallocs
				readings += benchRecords
				cancel()
				<-done
				b.StartTimer()
			}
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(readings), "ns/reading")
			b.ReportMetric(float64(readings)/elapsed.Seconds(), "readings/s")
			b.ReportMetric(float64(mallocs)/float64(readings), "allocs/reading")
		})
	}
}

// BenchmarkRawPassthrough is the limit the runner is measured against: the
// same records consumed in a group and produced to another topic as bytes,
// no decoding, no stage, offsets committed after the produce is acknowledged.
func BenchmarkRawPassthrough(b *testing.B) {
	var readings uint64
	var elapsed time.Duration
	for b.Loop() {
		b.StopTimer()
		c := pipelinetest.Cluster(b)
		admin := pipelinetest.Client(b, c.ListenAddrs())
		pipelinetest.CreateTopic(b, admin, 6, inTopic, outTopic)
		loadInput(b, admin)
		cl := pipelinetest.Client(b, c.ListenAddrs(), kgo.ConsumerGroup("smaint-raw"), kgo.ConsumeTopics(inTopic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.ProducerLinger(5*time.Millisecond))
		start := time.Now()
		b.StartTimer()
		ctx := context.Background()
		for n := 0; n < benchRecords; {
			fs := cl.PollRecords(ctx, 10_000)
			var out []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				out = append(out, &kgo.Record{Topic: outTopic, Key: r.Key, Value: r.Value})
			})
			if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				b.Fatal(err)
			}
			n += len(out)
		}
		b.StopTimer()
		elapsed += time.Since(start)
		readings += benchRecords
		b.StartTimer()
	}
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(readings), "ns/reading")
	b.ReportMetric(float64(readings)/elapsed.Seconds(), "readings/s")
}
