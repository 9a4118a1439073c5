package httpapi

import (
	"math"
	"sync"
	"time"
)

// limiter keeps a token bucket per key: a key holds up to Burst tokens,
// earns Rate a second, and spends one per request. Safe for concurrent
// use; its memory is one bucket per key of the (fixed) key set.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter() *limiter { return &limiter{buckets: make(map[string]*bucket)} }

// take spends one of k's tokens at now. When k has none it returns false
// and how long until it has one again.
func (l *limiter) take(k *Key, now time.Time) (bool, time.Duration) {
	if k.Rate == 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k.Name]
	if b == nil {
		b = &bucket{tokens: float64(k.Burst), last: now}
		l.buckets[k.Name] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(float64(k.Burst), b.tokens+dt*k.Rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / k.Rate * float64(time.Second))
}

// retryAfter is the Retry-After header's value for a wait: whole seconds,
// rounded up, at least 1.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
