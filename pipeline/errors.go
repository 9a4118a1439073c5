package pipeline

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/smaint/smaint/schemas"
)

// Sentinel errors. A stage wraps ErrInvalid when it rejects a record that
// decoded but breaks the record's rules; the runner wraps ErrPanic around a
// recovered panic.
var (
	ErrInvalid = errors.New("invalid record")
	ErrPanic   = errors.New("stage panicked")
	// ErrProduce means the brokers refused an output for good (after the
	// client's own retries); the runner stops rather than commit past it.
	ErrProduce = errors.New("produce failed")
	// ErrTooLarge means a record is over the size the brokers take
	// (MaxRecordBytes): an output so large goes to the dead-letter topic
	// instead, truncated, and the stage moves on.
	ErrTooLarge = errors.New("record too large")
	// ErrRefused means the brokers refused an output record for good for
	// what it is (invalid, against a policy): it goes to the dead-letter
	// topic instead, and the stage moves on.
	ErrRefused = errors.New("record refused by the brokers")
	// ErrConflict means a record contradicts one already kept under the
	// same key (another reading for the same sensor and time): it goes to
	// the dead-letter topic, never silently away.
	ErrConflict = errors.New("conflicting record")
)

// Dead-letter kinds, the value of the smaint-error-kind header.
const (
	KindDecode   = "decode"    // the value is not a readable record
	KindSchema   = "schema"    // readable framing, but an unknown or incompatible schema
	KindInvalid  = "invalid"   // decoded, but rejected by the stage's rules
	KindPanic    = "panic"     // the stage panicked on it
	KindRejected = "rejected"  // any other rejection by the stage
	KindTooLarge = "too_large" // an output over the size the brokers take
	KindRefused  = "refused"   // an output the brokers refused for what it is
	KindConflict = "conflict"  // another record is kept under the same key
)

const numKinds = 8

// kindNames is indexed by errorKind.
var kindNames = [numKinds]string{KindDecode, KindSchema, KindInvalid, KindPanic, KindRejected, KindTooLarge, KindRefused, KindConflict}

// errorKind classifies err for the dead-letter headers and metrics,
// returning an index into kindNames.
func errorKind(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return 5
	case errors.Is(err, ErrRefused):
		return 6
	case errors.Is(err, ErrConflict):
		return 7
	case errors.Is(err, ErrPanic):
		return 3
	case errors.Is(err, ErrInvalid):
		return 2
	case errors.Is(err, schemas.ErrUnknownSchema), errors.Is(err, schemas.ErrIncompatible), errors.Is(err, schemas.ErrRegistry):
		return 1
	case errors.Is(err, schemas.ErrNoFraming), errors.Is(err, schemas.ErrTruncated), errors.Is(err, schemas.ErrMalformed):
		return 0
	}
	return 4
}

// Invalidf returns an error wrapping ErrInvalid.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// refused reports whether a produce error is the brokers refusing the
// record for what it is, for good: retrying it would fail the same way,
// and stopping on it would stop on every restart.
func refused(err error) bool {
	for _, e := range []error{kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.CorruptMessage,
		kerr.InvalidTimestamp, kerr.PolicyViolation} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
