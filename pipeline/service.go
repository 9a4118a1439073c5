package pipeline

import (
	"context"
	"errors"
	"sync"
)

// Service is anything a process runs until it is told to stop: a Runner,
// the operator Server, a notifier's delivery loop. Run blocks until ctx
// ends, then drains what it holds and returns nil, or returns early with
// the error that stopped it.
type Service interface {
	Run(ctx context.Context) error
}

// RunAll runs every service until ctx ends or one of them fails; then it
// cancels the others and waits for all of them to return. It returns the
// first failure, or nil when ctx ended them. Services that end with
// context.Canceled are taken to have stopped on ctx.
func RunAll(ctx context.Context, services ...Service) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, s := range services {
		wg.Go(func() {
			if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return first
}

// ServiceFunc is a function as a Service.
type ServiceFunc func(ctx context.Context) error

// Run implements Service.
func (f ServiceFunc) Run(ctx context.Context) error { return f(ctx) }
