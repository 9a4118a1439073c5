package stages_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/stages"
	"github.com/smaint/smaint/stages/score"
)

func names(specs []stages.Spec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

func TestSelect(t *testing.T) {
	topics := pipeline.DefaultTopics()
	for _, tc := range []struct {
		names   []string
		storage bool
		want    []string
	}{
		{[]string{"all"}, false, []string{"dedupe", "features", "score", "drift", "forecast", "alert"}},
		{[]string{"all"}, true, []string{"dedupe", "features", "score", "drift", "forecast", "alert",
			"sink-readings", "sink-features", "sink-scores", "sink-drift", "sink-forecasts", "sink-alerts", "sink-retrain", "sink-predictions", "sink-maintenance"}},
		{[]string{"alert", "dedupe"}, false, []string{"dedupe", "alert"}}, // pipeline order
		{[]string{"sink"}, false, []string{"sink-readings", "sink-features", "sink-scores", "sink-drift", "sink-forecasts", "sink-alerts", "sink-retrain", "sink-predictions", "sink-maintenance"}},
		{[]string{"score", "retrain"}, false, []string{"score", "retrain"}}, // only when named
		{[]string{"byasset", "predict", "rul"}, false, []string{"byasset", "predict", "rul"}},
	} {
		got, err := stages.Select(topics, tc.names, tc.storage)
		if err != nil || !slices.Equal(names(got), tc.want) {
			t.Errorf("Select(%v, %v) = %v, %v; want %v", tc.names, tc.storage, names(got), err, tc.want)
		}
	}
	for _, bad := range [][]string{nil, {"dedupe", "teleport"}, {"all", "dedupe"}} {
		if _, err := stages.Select(topics, bad, true); !errors.Is(err, pipeline.ErrConfig) {
			t.Errorf("Select(%v): %v", bad, err)
		}
	}
	if got, want := stages.Names(), []string{"dedupe", "features", "score", "drift", "forecast", "alert", "retrain", "byasset", "predict", "rul", "sink"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
}

// TestTopologyIsConnected: every topic a stage reads is one producers
// write (the readings, the maintenance records) or another stage's
// output, and what reaches the clean topic flows through the analytics to
// the alerts.
func TestTopologyIsConnected(t *testing.T) {
	topics := pipeline.DefaultTopics()
	written := map[string]bool{topics.Readings: true, topics.Maintenance: true}
	for _, s := range stages.Topology(topics) {
		for _, o := range s.Outputs {
			written[o] = true
		}
	}
	for _, s := range stages.Topology(topics) {
		for _, in := range s.Inputs {
			if !written[in] {
				t.Errorf("%s reads %s, which no stage writes", s.Name, in)
			}
		}
	}
	if got, want := names(stages.Downstream(topics, topics.Clean)), []string{"features", "score", "drift", "forecast", "alert"}; !slices.Equal(got, want) {
		t.Errorf("downstream of the clean readings: %v, want %v", got, want)
	}
}

// TestEveryStageBuilds: the defaults build every stage; the storage ones
// need a Store.
func TestEveryStageBuilds(t *testing.T) {
	topics := pipeline.DefaultTopics()
	all, _ := stages.Select(topics, []string{"all"}, false)
	c := stages.DefaultConfig()
	nodes, err := stages.Build(context.Background(), &c, all)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(all); len(nodes) != len(got) {
		t.Fatalf("%d nodes for %v", len(nodes), got)
	}
	for i, n := range nodes {
		if n.Name != all[i].Name || !slices.Equal(n.Inputs, all[i].Inputs) || n.Shares != all[i].Shares {
			t.Errorf("node %+v for spec %+v", n, all[i])
		}
	}
	sinks, _ := stages.Select(topics, []string{"sink"}, true)
	if _, err := stages.Build(context.Background(), &c, sinks); !errors.Is(err, pipeline.ErrConfig) {
		t.Errorf("sinks without a Store: %v", err)
	}
	rt, _ := stages.Select(topics, []string{"retrain"}, false)
	if _, err := stages.Build(context.Background(), &c, rt); !errors.Is(err, pipeline.ErrConfig) {
		t.Errorf("retrain without a model store: %v", err)
	}
	c.Models = &score.FileStore{Dir: t.TempDir()}
	if _, err := stages.Build(context.Background(), &c, rt); err != nil {
		t.Errorf("retrain with a model store: %v", err)
	}
}

// TestStagesKnowNoClients holds the layout the README states: no package
// under stages/ imports a Kafka, database, Redis, mail or HTTP client;
// those are the business of pipeline/ and sinks/.
func TestStagesKnowNoClients(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{"github.com/twmb/franz-go/pkg/kgo", "github.com/jackc/pgx", "github.com/redis/go-redis", "github.com/aws/aws-sdk-go-v2", "net/smtp", "net/http"}
	pkgs := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(pkgs) < 6 {
		t.Fatalf("go list found %d packages under stages/", len(pkgs))
	}
	for _, line := range pkgs {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			for _, f := range forbidden {
				if imp == f || strings.HasPrefix(imp, f+"/") {
					t.Errorf("%s imports %s", pkg, imp)
				}
			}
		}
	}
}
