package simulate

import (
	"sync"
	"time"

	"github.com/smaint/smaint/schemas"
)

// Check holds a run of the simulator through the pipeline to account:
// every valid reading sent (Expect) must reach the clean topic once,
// whichever copy of it dedupe keeps, and what the pipeline made of the
// readings (alerts, drift, retrain requests) is kept to score against the
// ground truth (Evaluate). Its methods are safe for concurrent use: the
// sender calls Expect while the pipeline's outputs are read elsewhere.
type Check struct {
	mu             sync.Mutex
	expected, seen bitset // seqs of valid readings sent, and of those that arrived clean
	sentValid      int64  // valid readings sent, copies included
	sentMalformed  int64
	clean          int64 // records on the clean topic
	distinct       int64 // of which the first arrival of an expected reading
	foreign        int64 // of which readings this run did not send
	deadLetters    int64
	retrains       int64
	alerts         AlertLog
	drifted        []schemas.DriftReport
	crossed        Crossings

	// OnAlert, if set, sees every alert record as Alert folds it in, and
	// whether its kind changed from the alert's previous record. It is
	// called with the Check locked, so it must not call the Check.
	OnAlert func(a *schemas.Alert, changedKind bool)
}

// Expect notes that ev is about to be sent.
func (c *Check) Expect(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Kind == KindMalformed {
		c.sentMalformed++
		return
	}
	c.sentValid++
	c.expected.set(ev.Seq)
}

// Clean notes a record of the clean topic: r, or nil if it did not decode.
func (c *Check) Clean(r *schemas.SensorReading) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clean++
	var seq uint64
	ok := r != nil
	if ok {
		seq, ok = SeqOf(r.ReadingID)
	}
	switch {
	case !ok || !c.expected.has(seq):
		c.foreign++
	case !c.seen.has(seq):
		c.seen.set(seq)
		c.distinct++
	}
}

// DeadLetter notes a record of the dead-letter topic.
func (c *Check) DeadLetter() { c.mu.Lock(); c.deadLetters++; c.mu.Unlock() }

// Retrain notes a retrain request.
func (c *Check) Retrain() { c.mu.Lock(); c.retrains++; c.mu.Unlock() }

// Alert notes an alert record.
func (c *Check) Alert(a schemas.Alert) {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.alerts.Add(a)
	if c.OnAlert != nil {
		c.OnAlert(&a, changed)
	}
}

// Drift notes a drift report.
func (c *Check) Drift(r schemas.DriftReport) {
	if !r.Drifted {
		return
	}
	c.mu.Lock()
	c.drifted = append(c.drifted, r)
	c.mu.Unlock()
}

// Forecast notes a forecast.
func (c *Check) Forecast(f *schemas.Forecast) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crossed == nil {
		c.crossed = Crossings{}
	}
	c.crossed.Add(f)
}

// CheckCounts are a Check's tallies at one moment.
type CheckCounts struct {
	SentValid, SentMalformed int64
	Duplicates               int64 // copies of valid readings sent beyond the first of each
	Clean                    int64
	DuplicatesPassed         int64 // clean records repeating one already there
	Lost                     int64 // valid readings sent that never reached the clean topic
	DeadLetters              int64
	Retrains                 int64
}

// Counts returns the tallies so far.
func (c *Check) Counts() CheckCounts {
	c.mu.Lock()
	defer c.mu.Unlock()
	expected := c.expected.count()
	return CheckCounts{
		SentValid: c.sentValid, SentMalformed: c.sentMalformed, Duplicates: c.sentValid - expected,
		Clean: c.clean, DuplicatesPassed: c.clean - c.distinct - c.foreign, Lost: expected - c.seen.count(),
		DeadLetters: c.deadLetters, Retrains: c.retrains,
	}
}

// Evaluate scores the alerts and drift reports so far against faults, for
// a run that got to reached in event time (see Evaluate).
func (c *Check) Evaluate(faults []Fault, reached time.Time) Evaluation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Evaluate(faults, reached, c.alerts.Seen(), c.drifted, c.crossed, c.retrains)
}

// bitset is a growable set of small non-negative integers.
type bitset struct{ words []uint64 }

func (b *bitset) set(i uint64) {
	w := int(i / 64)
	for w >= len(b.words) {
		b.words = append(b.words, 0)
	}
	b.words[w] |= 1 << (i % 64)
}

func (b *bitset) has(i uint64) bool {
	w := int(i / 64)
	return w < len(b.words) && b.words[w]&(1<<(i%64)) != 0
}

func (b *bitset) count() int64 {
	var n int64
	for _, w := range b.words {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}
