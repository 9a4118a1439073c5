package pipelinetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Start runs r (a pipeline.Runner, a pipeline.Server) in a goroutine
// until the test ends or stop is called. stop cancels Run's context,
// waits for Run to return, at most until the test's Deadline, and returns
// its error; it may be called more than once, and always returns the
// first call's answer.
func Start(t testing.TB, r interface{ Run(context.Context) error }) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(time.Until(Deadline(t))):
				err = errors.New("Run did not return after cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}
