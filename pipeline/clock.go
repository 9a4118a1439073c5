package pipeline

import "time"

// Clock tells the time. Stages and runners take one so tests can drive
// time; the zero Clock value of any option means the system clock.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
