package interop_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/schemas"
)

// TestPythonRecordsMaintenance: the example Python client records work on
// assets with confluent-kafka and the Avro reference library, from the
// schema smaint schemas print gives, and the decoder the rul stage
// follows asset.maintenance with reads each record as it was written.
func TestPythonRecordsMaintenance(t *testing.T) {
	py := pipelinetest.Python(t, "confluent_kafka", "avro")
	c := pipelinetest.Cluster(t)
	addr := c.ListenAddrs()[0]
	topics := pipeline.DefaultTopics()
	pipelinetest.CreateTopic(t, pipelinetest.Client(t, c.ListenAddrs()), 3, topics.Maintenance)
	schema := schemaFile(t, "Maintenance")
	for _, args := range [][]string{
		{"--asset", "pump-7", "--action", "replacement", "--renews", "--at", "2026-12-01T08:30:00Z", "--note", "bearing"},
		{"--asset", "pump-8", "--action", "inspection", "--at", "2026-12-01T09:00:00.25+01:00", "--keeps-life"},
	} {
		cmd := exec.Command(py, append([]string{clients + "record_maintenance.py", "--brokers", addr, "--schema", schema}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "recorded") {
			t.Fatalf("record_maintenance.py %v: %v\n%s", args, err, out)
		}
	}
	got := decodeAll[schemas.Maintenance](t, pipelinetest.ReadAll(t, []string{addr}, topics.Maintenance))
	slices.SortFunc(got, func(a, b schemas.Maintenance) int { return strings.Compare(a.AssetID, b.AssetID) })
	want := []schemas.Maintenance{
		{AssetID: "pump-7", PerformedAt: time.Date(2026, 12, 1, 8, 30, 0, 0, time.UTC), Action: "replacement", Renews: true, Note: "bearing"},
		{AssetID: "pump-8", PerformedAt: time.Date(2026, 12, 1, 8, 0, 0, 250e6, time.UTC), Action: "inspection"},
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.AssetID != w.AssetID || !g.PerformedAt.Equal(w.PerformedAt) || g.Action != w.Action || g.Renews != w.Renews || g.Note != w.Note {
			t.Errorf("record %d: %+v, want %+v", i, g, w)
		}
	}
}
