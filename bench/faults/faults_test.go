package faults_test

import (
	"math/rand/v2"
	"testing"
	"time"
)

// sizes of the input: short runs for make test, long ones on demand.
func size() int {
	if long() {
		return 400_000
	}
	return 60_000
}

// TestFaultKill9AtRandomPoints kills the pipeline process with SIGKILL at
// random points, again and again, restarting it each time under the same
// instance id, and then lets it finish.
func TestFaultKill9AtRandomPoints(t *testing.T) {
	recs := input(t, size())
	want := reference(t, recs)

	p := newPlant(t, recs, nil)
	kills := 10
	if long() {
		kills = 25
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range kills {
		pr := p.run("pod-1")
		// A random point: anywhere from start-up to well into the work.
		time.Sleep(time.Duration(100+rng.IntN(1500)) * time.Millisecond)
		pr.kill()
		t.Logf("kill %d", i+1)
	}
	pr := p.run("pod-1")
	p.settled(pr)
	pr.stop(t)
	p.audit()
	sameOutputs(t, want, p.outputs())
}
