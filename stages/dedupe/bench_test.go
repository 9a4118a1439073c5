package dedupe_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/redisstore"
	"github.com/smaint/smaint/stages/dedupe"
)

// BenchmarkDecodeDedupeEncode measures the per-reading cost of the dedupe
// stage's hot path as the runner drives it: decode the framed value, dedupe
// (validate, cache, store), encode the output. Batches of 1,000 readings
// from 1,000 sensors, 5% duplicates; every reading id is new to the store.
// The store variants need the Redis of REDIS_URL (else they skip).
func BenchmarkDecodeDedupeEncode(b *testing.B) {
	for _, store := range []string{"local", "log-redis", "claims-redis"} {
		b.Run("store="+store, func(b *testing.B) {
			var cfg dedupe.Config
			switch store {
			case "log-redis":
				rdb := realRedis(b)
				cfg.Log = redisstore.NewLogStore(rdb, testPrefix(b, rdb))
			case "claims-redis":
				rdb := realRedis(b)
				cfg.Claims = redisstore.NewClaimStore(rdb, testPrefix(b, rdb))
			}
			benchDedupe(b, cfg)
		})
	}
}

func benchDedupe(b *testing.B, cfg dedupe.Config) {
	const batch = 1000
	ctx := context.Background()
	serde := schemas.NewSerde()
	enc, _ := serde.NewEncoder(ctx, schemas.SensorReadingSchema, "")
	cfg.LocalCapacity = 200_000
	s, err := dedupe.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	local, err := pipeline.NewLocal(ctx, "dedupe", pipeline.Stage[schemas.SensorReading](s), serde)
	if err != nil {
		b.Fatal(err)
	}
	dec := serde.NewDecoder()
	now := time.Now().UTC()
	// A pool of encoded batches with fresh ids; ids are rewritten per round
	// so that the store always sees new keys.
	raw := make([][]byte, batch)
	msgs := make([]pipeline.Msg[schemas.SensorReading], batch)
	var mallocs uint64
	var ms runtime.MemStats
	b.ResetTimer()
	readings := 0
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		for i := range raw {
			k := n*batch + i
			if i%20 == 19 {
				k-- // a duplicate of the previous reading
			}
			r := schemas.SensorReading{ReadingID: fmt.Sprintf("%08x-0000-4000-8000-%012x", n, k), SensorID: fmt.Sprintf("sensor-%04d", i),
				AssetID: fmt.Sprintf("asset-%03d", i/10), SensorType: "vibration", TS: now, Value: float64(i), Unit: "mm/s", Quality: 90}
			raw[i], _ = enc.Append(raw[i][:0], &r)
		}
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		b.StartTimer()
		for i := range raw {
			if err := dec.Decode(ctx, raw[i], &msgs[i].Value); err != nil {
				b.Fatal(err)
			}
			msgs[i].Offset = int64(n*batch + i)
		}
		res, err := local.Process(ctx, msgs)
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		if err != nil || len(res.Records) != batch-batch/20 {
			b.Fatalf("%v: %d out", err, len(res.Records))
		}
		readings += batch
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(readings), "ns/reading")
	b.ReportMetric(float64(readings)/b.Elapsed().Seconds(), "readings/s")
	b.ReportMetric(float64(mallocs)/float64(readings), "allocs/reading")
}
