package interop_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/smaint/smaint/bench/plant"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// TestKcatCommandsOfTheREADME runs the kcat commands README's "Producing
// and consuming from other languages" shows, on a pipeline's topics.
func TestKcatCommandsOfTheREADME(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if pipelinetest.Required() {
			t.Fatal("kcat not installed (make services installs it)")
		}
		t.Skip("kcat not installed; make services installs it")
	}
	recs := plant.Input(t, 60_000)
	p := plant.New(t, recs, nil)
	pr := p.Run("pod-1")
	p.Settled(pr)
	pr.Stop(t)
	topics := pipeline.DefaultTopics()
	run := func(command string) []string {
		t.Helper()
		out, err := exec.Command("sh", "-c", strings.ReplaceAll(command, "HOST:9092", p.Addr)).Output()
		if err != nil {
			t.Fatalf("%s: %v", command, err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	list := strings.Join(run(`kcat -b HOST:9092 -L`), "\n")
	for _, topic := range []string{topics.Readings, topics.Clean, topics.Features, topics.Alerts, topics.DLQ} {
		if !strings.Contains(list, `topic "`+topic+`"`) {
			t.Errorf("kcat -L does not list %s", topic)
		}
	}
	clean := run(`kcat -b HOST:9092 -C -t sensor.readings.clean -X isolation.level=read_committed -o beginning -e -f '%p %o %k\n'`)
	if want := len(pipelinetest.ReadCommitted(t, []string{p.Addr}, topics.Clean)); len(clean) != want {
		t.Errorf("kcat read %d clean readings, want %d", len(clean), want)
	}
	for _, line := range clean {
		if f := strings.Fields(line); len(f) != 3 || !strings.HasPrefix(f[2], "asset-") {
			t.Fatalf("kcat printed %q", line)
		}
	}
	dlq := run(`kcat -b HOST:9092 -C -t sensor.dlq -o beginning -e -f '%k %h\n'`)
	if len(dlq) == 0 || !strings.Contains(dlq[0], pipeline.HeaderErrorKind+"=") {
		t.Errorf("kcat read dead letters %q", dlq)
	}
}
