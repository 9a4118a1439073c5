package simulate

import (
	"context"
	"fmt"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// Feed sends the simulation's events to out's topic through prod, keyed
// by sensor: rate events a second on average (0: as fast as prod takes
// them), until the simulation ends, limit events were sent (0: no limit)
// or ctx ends; then it waits up to 30 s for what it sent to be
// acknowledged. onEvent, if not nil, sees every event just before it is
// sent. It returns how many events it sent. Malformed events go out as
// their raw bytes.
func (s *Sim) Feed(ctx context.Context, prod *pipeline.Producer, out *pipeline.Output[*schemas.SensorReading], rate float64, limit int64, onEvent func(Event)) (int64, error) {
	// ctx decides when to stop sending; records already queued must not
	// fail with it (kgo fails buffered records whose context ends).
	pctx := context.WithoutCancel(ctx)
	var sent int64
	started := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil && (limit == 0 || sent < limit) {
		budget := int64(1 << 62)
		if rate > 0 {
			if budget = int64(rate*time.Since(started).Seconds()) - sent; budget <= 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
				continue
			}
		}
		for ; budget > 0 && (limit == 0 || sent < limit); budget-- {
			ev, ok, err := s.Next()
			if err != nil {
				return sent, err
			}
			if !ok {
				return sent, flush(pctx, prod)
			}
			if onEvent != nil {
				onEvent(ev)
			}
			if ev.Raw != nil {
				err = prod.SendRaw(pctx, out.Topic(), ev.Key, ev.Raw)
			} else {
				err = pipeline.Send(pctx, prod, out, ev.Key, &ev.Reading)
			}
			if err != nil {
				return sent, err
			}
			if sent++; rate == 0 && sent%4096 == 0 && ctx.Err() != nil {
				break
			}
		}
	}
	return sent, flush(pctx, prod)
}

func flush(ctx context.Context, prod *pipeline.Producer) error {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return prod.Flush(fctx)
}

// Send is Feed through a producer of its own, made with opts (see
// pipeline.NewProducer), to topic; it gives up if the brokers do not take
// the topic within 30 s.
func (s *Sim) Send(ctx context.Context, opts []pipeline.Option, topic string, rate float64, limit int64) (int64, error) {
	prod, err := pipeline.NewProducer(opts...)
	if err != nil {
		return 0, err
	}
	defer prod.Close()
	out := pipeline.NewOutput[*schemas.SensorReading](topic)
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = prod.Bind(bctx, out)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	return s.Feed(ctx, prod, out, rate, limit, nil)
}
