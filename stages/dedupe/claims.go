package dedupe

import (
	"context"
	"time"
)

// Claim asks a ClaimStore to remember ID as first seen at Pos. The store
// fills Existed and Prev: whether ID was already remembered, and the Pos
// it was remembered with.
type Claim struct {
	ID      string
	Pos     string
	Existed bool
	Prev    string
}

// ClaimStore remembers reading ids one by one, for all partitions at once:
// it catches a duplicate whichever partition it arrives on, at the cost of
// one store operation per new reading. Implementations must be safe for
// concurrent use.
type ClaimStore interface {
	// Claim records every claim whose ID is new, for ttl, and reports for
	// each whether it existed. On error no claim's result may be trusted.
	Claim(ctx context.Context, claims []Claim, ttl time.Duration) error
}
