package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// deps are what a command injects into stages and runners.
type deps struct {
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *pipeline.Metrics
	health  *pipeline.Health
	serde   *schemas.Serde
	topics  pipeline.Topics
}

func newDeps(log *slog.Logger, serde *schemas.Serde) *deps {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &deps{
		log: log, reg: reg, metrics: pipeline.NewMetrics(reg), health: pipeline.NewHealth(),
		serde: serde, topics: pipeline.DefaultTopics(),
	}
}

// runnable is anything with a blocking Run: runners, servers.
type runnable interface {
	Run(ctx context.Context) error
}

// runAll runs every r until ctx ends or one fails; then it cancels the
// rest and waits for them. It returns the first failure.
func runAll(ctx context.Context, rs ...runnable) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	return first
}
