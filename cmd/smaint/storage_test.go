package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// TestMigrateRunSinkExport drives the storage commands as an operator
// would: migrate (twice), run the sink against a broker, export.
func TestMigrateRunSinkExport(t *testing.T) {
	ctx := context.Background()
	_, dbURL := testDatabase(t)
	code, out, stderr := runCLI(t, ctx, "migrate", "--database-url", dbURL, "--json")
	var mig struct {
		Mode    string   `json:"mode"`
		Applied []string `json:"applied"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &mig) != nil || mig.Mode != "plain" || len(mig.Applied) == 0 || mig.Applied[0] != "0001_tables" {
		t.Fatalf("migrate: exit %d, %q, %s", code, out, stderr)
	}
	code, out, _ = runCLI(t, ctx, "migrate", "--database-url", dbURL)
	if code != 0 || !strings.Contains(out, "plain PostgreSQL mode") || !strings.Contains(out, "up to date: nothing to do") {
		t.Fatalf("second migrate: exit %d, %q", code, out)
	}

	// Readings through dedupe to the clean topic, then the sink.
	c := pipelinetest.Cluster(t)
	broker := c.ListenAddrs()[0]
	admin := pipelinetest.Client(t, c.ListenAddrs())
	if code, _, stderr := runCLI(t, ctx, "simulate", "--brokers", broker, "--count", "3000", "--rate", "0", "--scenarios", "none"); code != 0 {
		t.Fatalf("simulate: %s", stderr)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		code, _, _ := runCLI(t, rctx, "run", "--stages", "dedupe,sink", "--brokers", broker, "--database-url", dbURL,
			"--http", "127.0.0.1:0", "--log-level", "error")
		done <- code
	}()
	topics := pipeline.DefaultTopics()
	pipelinetest.WaitCommitted(t, admin, "smaint-dedupe", topics.Readings)
	pipelinetest.WaitCommitted(t, admin, "smaint-sink-readings", topics.Clean)
	stop()
	if code := <-done; code != 0 {
		t.Fatalf("run exited %d", code)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "readings.csv")
	code, out, stderr = runCLI(t, ctx, "export", "--database-url", dbURL, "--output", file)
	var res struct{ Rows int64 }
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Rows != 3000 {
		t.Fatalf("export: exit %d, %q, %s", code, out, stderr)
	}
	b, _ := os.ReadFile(file)
	if lines := strings.Count(string(b), "\n"); lines != 3001 {
		t.Fatalf("%d lines in the export, want a header and 3000 rows", lines)
	}
	// Incremental: the first run takes what has settled, the next nothing
	// new; neither repeats a row.
	inc := filepath.Join(dir, "inc.csv")
	for i, want := range []int64{3000, 0} {
		code, out, stderr = runCLI(t, ctx, "export", "--database-url", dbURL, "--output", inc, "--incremental", "--settle", "1ms")
		if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Rows != want {
			t.Fatalf("incremental export %d: exit %d, %q, %s", i+1, code, out, stderr)
		}
	}
	if _, err := os.Stat(inc + ".state"); err != nil {
		t.Fatal(err)
	}
}

func TestStorageBadCommandLines(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"migrate", "--mode", "cassandra"}, 2, `--mode "cassandra"`},
		{[]string{"migrate", "--retention", "forever"}, 2, `"forever" is not a duration`},
		{[]string{"migrate", "--retention", "30m"}, 2, "at least an hour"},
		{[]string{"migrate", "--rollup-refresh-start", "1h"}, 2, "less than two hourly buckets"},
		{[]string{"migrate", "--database-url", "mysql://x"}, 2, "--database-url"},
		{[]string{"migrate", "--database-url", "postgres://postgres@127.0.0.1:1/x?connect_timeout=1"}, 1, "database postgres@127.0.0.1:1/x"},
		{[]string{"export"}, 2, "--output is required"},
		{[]string{"export", "--output", "x.csv", "--since", "last tuesday"}, 2, `invalid value "last tuesday" for flag -since`},
		{[]string{"export", "--output", "x.csv", "--settle", "0s"}, 2, "--settle must be positive"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, _, stderr := runCLI(t, context.Background(), tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
	// Against a database: export before migrate says what to do; an
	// unknown table is a usage error.
	_, dbURL := testDatabase(t)
	if code, _, stderr := runCLI(t, context.Background(), "export", "--database-url", dbURL, "--output", filepath.Join(t.TempDir(), "x.csv")); code != 1 || !strings.Contains(stderr, "run smaint migrate") {
		t.Fatalf("export before migrate: exit %d, %q", code, stderr)
	}
	runCLI(t, context.Background(), "migrate", "--database-url", dbURL)
	if code, _, stderr := runCLI(t, context.Background(), "export", "--database-url", dbURL, "--output", filepath.Join(t.TempDir(), "x.csv"), "--table", "secrets"); code != 2 || !strings.Contains(stderr, `unknown table "secrets"`) {
		t.Fatalf("export of an unknown table: exit %d, %q", code, stderr)
	}
}

// TestRunPoliciesInBothModes: `migrate --run-policies` runs TimescaleDB's
// jobs, or plain mode's compaction and retention, and says which.
func TestRunPoliciesInBothModes(t *testing.T) {
	ctx := context.Background()
	_, plain := testDatabase(t)
	_, schema := pipelinetest.Timescale(t)
	tsdb := pipelinetest.TimescaleSchemaURL(t, schema)
	for _, tc := range []struct {
		url, mode, want string
	}{
		{plain, "plain", "ran: rollup compaction (0 deltas folded), retention (0 readings deleted)"},
		{tsdb, "timescale", "ran: compression of sensor_readings (job "},
	} {
		code, out, stderr := runCLI(t, ctx, "migrate", "--database-url", tc.url, "--mode", tc.mode, "--run-policies")
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, %q, %s", tc.mode, code, out, stderr)
		}
	}
}
