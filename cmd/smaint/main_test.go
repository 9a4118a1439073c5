package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smaint/smaint/bench/demo"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// runCLI runs the command line in process and returns its exit status and
// output.
func runCLI(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestBadCommandLinesExitTwoWithAReason(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{[]string{"run"}, nil, "no brokers"},
		{[]string{"maintenance", "--brokers", "k:9092", "--action", "repair"}, nil, "--asset and --action are required"},
		{[]string{"maintenance", "--brokers", "k:9092", "--asset", "e1", "--action", "repair", "--renews", "--at", "yesterday"}, nil, `--at "yesterday": want RFC 3339`},
		{[]string{"maintenance", "--brokers", "k:9092", "--asset", "e1", "--action", "repair"}, nil, "give --renews (a repair, a replacement: the remaining-life run ends) or --keeps-life"},
		{[]string{"maintenance", "--brokers", "k:9092", "--asset", "e1", "--action", "repair", "--renews", "--keeps-life"}, nil, "give --renews"},
		{[]string{"run", "--brokers", "a b"}, nil, `broker "a b" is not host:port`},
		{[]string{"run", "--brokers", "k:9092", "--stages", "dedupe,teleport"}, nil, `unknown stage "teleport"`},
		{[]string{"run", "--brokers", "k:9092", "--sasl-mechanism", "GSSAPI", "--sasl-user", "u"}, nil, "unknown SASL mechanism"},
		{[]string{"run", "--brokers", "k:9092", "--tls-cert", "c.pem"}, nil, "certificate and key must be given together"},
		{[]string{"run", "--brokers", "k:9092", "--dedupe-store", "bloom"}, nil, `--dedupe-store "bloom"`},
		{[]string{"run", "--brokers", "k:9092", "--stages", "byasset,rul"}, nil, "--stages rul needs --models"},
		{[]string{"run", "--brokers", "k:9092", "--registry", "ftp://x"}, nil, "not an http(s) URL"},
		{[]string{"run", "--brokers", "k:9092", "--redis", "mysql://x"}, nil, "redis URL"},
		{[]string{"run", "--partitions", "0", "--brokers", "k:9092"}, nil, "--partitions 0"},
		{[]string{"run", "--max-batch", "x"}, nil, `invalid value "x" for flag -max-batch`},
		{[]string{"run", "--brokers", "k:9092", "--windows", "auto"}, nil, "a stream needs a size, e.g. --windows 60s"},
		{[]string{"run", "--brokers", "k:9092", "--max-record-bytes", "10"}, nil, "--max-record-bytes 10"},
		{[]string{"run", "--brokers", "k:9092", "--max-reading-bytes", "10"}, nil, "reading bounds 10 bytes"},
		{[]string{"run", "--brokers", "k:9092", "--detector", "oracle"}, nil, `unknown detector "oracle"`},
		{[]string{"run", "--brokers", "k:9092", "--drift-typical", "0.5"}, nil, "drift 0.5 times typical (at least 1)"},
		{[]string{"run", "--brokers", "k:9092", "--limits", "/nonexistent/limits.json"}, nil, "--limits: "},
		{[]string{"run", "--brokers", "k:9092", "--stages", "predict", "--models", "file:///nonexistent", "--predict-attributes", "/nonexistent/attrs.json"}, nil, "--predict-attributes: "},
		{[]string{"run", "--brokers", "k:9092", "--forecast-slow", "x"}, nil, `invalid value "x" for flag -forecast-slow`},
		{[]string{"run", "--brokers", "k:9092", "--forecast-fast", "0.5,0.9,0.9"}, nil, "beta 0.9 in [0,alpha]"},
		{[]string{"run", "--brokers", "k:9092", "--forecast-horizon", "-1m"}, nil, "horizon -1m0s must be positive"},
		{[]string{"run", "--brokers", "k:9092", "--forecast-feature", "colour"}, nil, `unknown feature "colour"`},
		{[]string{"run", "--brokers", "k:9092", "--predict-k", "-1"}, nil, "predict k -1 must be positive"},
		{[]string{"run", "extra"}, map[string]string{"KAFKA_BROKERS": "k:9092"}, `unexpected argument "extra"`},
		{[]string{"run"}, map[string]string{"KAFKA_BROKERS": "k:9092", "SMAINT_MAX_BATCH": "lots"}, `SMAINT_MAX_BATCH="lots"`},
		{[]string{"simulate", "--brokers", "k:9092", "--scenarios", "meteor"}, nil, `unknown scenario "meteor"`},
		{[]string{"simulate", "--brokers", "k:9092", "--types", "torque"}, nil, `unknown sensor type "torque"`},
		{[]string{"simulate", "--brokers", "k:9092", "--rate", "-1"}, nil, "--rate must not be negative"},
		{[]string{"demo", "--duration", "-1s"}, nil, "--duration must not be negative"},
		{[]string{"demo", "--log-level", "loud"}, nil, `--log-level "loud"`},
		{[]string{"bench", "--sensors", "0"}, nil, "sensors must be positive"},
		{[]string{"bench", "--stages", "dedupe,sink"}, nil, "the sink is not a stage bench runs"},
		{[]string{"bench", "--stages", "features,score"}, nil, "must include dedupe"},
		{[]string{"bench", "--stages", "dedupe,teleport"}, nil, `unknown stage "teleport"`},
		{[]string{"bench", "--duplicates", "-0.1"}, nil, "--duplicates -0.1"},
		{[]string{"bench", "--duplicates", "0.9"}, nil, "duplicates 0.9"},
		{[]string{"bench", "--plot", "chart.gif"}, nil, `--plot "chart.gif"`},
		{[]string{"bench", "--memory-limit", "256M"}, nil, `memory limit "256M"`},
		{[]string{"bench", "--windows", "10parsecs"}, nil, `invalid value "10parsecs" for flag -windows`},
		{[]string{"run", "--brokers", "k:9092", "--topic", "readings"}, nil, `--topic "readings": want NAME=TOPIC`},
		{[]string{"run", "--brokers", "k:9092", "--topic", "sprockets=x"}, nil, `no topic called "sprockets"`},
		{[]string{"run", "--brokers", "k:9092", "--topic", "clean=a/b"}, nil, `"a/b" is not a valid Kafka topic name`},
		{[]string{"run", "--brokers", "k:9092", "--topic", "clean=sensor.readings"}, nil, `topics readings and clean are both "sensor.readings"`},
		{[]string{"run", "--brokers", "k:9092", "--topic-prefix", "a b"}, nil, "not a valid Kafka topic name"},
		{[]string{"run", "--brokers", "k:9092", "--subject-strategy", "name"}, nil, `subject strategy "name"`},
		{[]string{"schemas", "register"}, nil, "--registry is required"},
		{[]string{"schemas", "print"}, nil, "which schema?"},
		{[]string{"schemas", "print", "Sprocket"}, nil, `no record or topic "Sprocket"`},
		{[]string{"schemas", "frob"}, nil, `unknown schemas command "frob"`},
		{[]string{"reset", "--brokers", "k:9092", "--to", "latest"}, nil, "--stage is required"},
		{[]string{"reset", "--brokers", "k:9092", "--stage", "teleport", "--to", "latest"}, nil, `no stage "teleport"`},
		{[]string{"reset", "--brokers", "k:9092", "--stage", "dedupe"}, nil, "--to is required"},
		{[]string{"reset", "--brokers", "k:9092", "--stage", "dedupe", "--to", "yesterday"}, nil, `--to "yesterday"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := runCLI(t, context.Background(), tc.args...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := runCLI(t, context.Background(), "help")
	if code != 0 || !strings.Contains(out, "demo") || !strings.Contains(out, "SMAINT_FOO_BAR") {
		t.Fatalf("exit %d: %s", code, out)
	}
	code, _, stderr := runCLI(t, context.Background(), "demo", "-h")
	if code != 0 || !strings.Contains(stderr, "--json") && !strings.Contains(stderr, "-json") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

// TestDemoJSONSummary runs the demo briefly on free ports and checks the
// last line of its output: the summary, whose numbers must add up.
func TestDemoJSONSummary(t *testing.T) {
	pool, dbURL := testDatabase(t)
	t.Setenv("DATABASE_URL", dbURL) // as users set it
	ctx := pipelinetest.Context(t)
	code, out, stderr := runCLI(t, ctx, "demo", "--duration", "4s", "--json", "--rate", "5000", "--drain-timeout", "10m",
		"--kafka-listen", "127.0.0.1:0", "--registry-listen", "127.0.0.1:0", "--http", "127.0.0.1:0")
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s demo.Summary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("last line is not the JSON summary: %v\n%s", err, out)
	}
	if s.ReadingsProduced < 10_000 || !s.Drained {
		t.Fatalf("summary %+v", s)
	}
	if s.Lost != 0 || s.DuplicatesPassed != 0 {
		t.Errorf("lost %d, duplicates passed %d", s.Lost, s.DuplicatesPassed)
	}
	if s.DuplicatesInjected == 0 || s.DuplicatesDropped != s.DuplicatesInjected {
		t.Errorf("duplicates: %d injected, %d dropped", s.DuplicatesInjected, s.DuplicatesDropped)
	}
	if s.InvalidInjected == 0 || s.DLQ != s.InvalidInjected {
		t.Errorf("invalid: %d injected, %d dead-lettered", s.InvalidInjected, s.DLQ)
	}
	if s.Clean != s.ReadingsProduced-s.DuplicatesInjected-s.InvalidInjected {
		t.Errorf("clean %d != produced %d - duplicates %d - invalid %d", s.Clean, s.ReadingsProduced, s.DuplicatesInjected, s.InvalidInjected)
	}
	if !strings.HasPrefix(s.Models.Store, "file://") {
		t.Errorf("the model loop did not run: %+v", s.Models)
	}
	for _, want := range []string{"kafka", "registry", "metrics", "database", "summary", "storage"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The sink stored every clean reading, once.
	if !s.Storage.Enabled || s.Storage.Mode != "plain PostgreSQL" || s.Storage.Rows["sensor_readings"]+s.Storage.Existing["sensor_readings"] != s.Clean {
		t.Errorf("storage %+v, clean %d", s.Storage, s.Clean)
	}
	var stored, distinct int64
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT reading_id) FROM sensor_readings`).Scan(&stored, &distinct); err != nil {
		t.Fatal(err)
	}
	if stored != s.Clean || distinct != s.Clean {
		t.Errorf("the database holds %d readings (%d distinct), the clean topic %d", stored, distinct, s.Clean)
	}
}

// testDatabase returns a pool on a schema of the test's own and a
// database URL that selects it.
func testDatabase(t *testing.T) (*pgxpool.Pool, string) {
	t.Helper()
	pool, schema := pipelinetest.Postgres(t)
	return pool, pipelinetest.SchemaURL(t, schema)
}
