package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smaint/smaint/pipeline/pipelinetest"
)

const (
	rulesFile     = "prometheus/smaint-rules.yaml"
	rulesTestFile = "prometheus/smaint-rules.test.yaml"
	dashboardFile = "grafana/smaint.json"
)

// tool finds a program of Debian's prometheus package; without it the
// test is skipped, or fails where services are required (make test,
// whose .ci/services installs it).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if pipelinetest.Required() {
			t.Fatalf("%s is not installed (.ci/services installs Debian's prometheus package)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// TestAlertRules: promtool checks the rules and runs their unit tests
// (series that must raise each alert, and series that must not).
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", rulesTestFile}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// queries returns every PromQL expression of the dashboard's panels and
// of the rules.
func queries(t *testing.T) (panels, rules []string) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			panels = append(panels, tg.Expr)
		}
	}
	rb, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?ms)^\s+expr: (?:\|\n)?(.*?)\n\s+for:`).FindAllStringSubmatch(string(rb), -1) {
		rules = append(rules, strings.Join(strings.Fields(m[1]), " "))
	}
	if len(panels) < 10 || len(rules) < 7 {
		t.Fatalf("read %d panel queries and %d rules", len(panels), len(rules))
	}
	return panels, rules
}

var metricName = regexp.MustCompile(`\b(smaint_[a-z_]+|process_[a-z_]+)\b`)

// TestDashboardAndRulesOnALivePipeline: a demo runs on TimescaleDB (so
// that every metric family, the jobs' included, is served), a real
// Prometheus scrapes it; every metric a panel or a rule names is in its
// /metrics, and every panel query and rule expression evaluates without
// error, the panels to data.
func TestDashboardAndRulesOnALivePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a pipeline and Prometheus")
	}
	prom := tool(t, "prometheus")
	panels, rules := queries(t)
	_, schema := pipelinetest.Timescale(t)
	dbURL := pipelinetest.TimescaleSchemaURL(t, schema)

	dir := t.TempDir()
	bin := filepath.Join(dir, "smaint")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/smaint").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	smaintAddr, promAddr := pipelinetest.FreeAddr(t), pipelinetest.FreeAddr(t)
	demo := exec.CommandContext(ctx, bin, "demo", "--duration", "10m", "--rate", "5000", "--kafka-listen", "127.0.0.1:0",
		"--registry-listen", "127.0.0.1:0", "--http", smaintAddr, "--database-url", dbURL, "--log-level", "error")
	demo.Stdout, demo.Stderr = io.Discard, io.Discard
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = demo.Wait() }()

	names := map[string]bool{}
	for _, q := range append(slices.Clone(panels), rules...) {
		for _, m := range metricName.FindAllString(q, -1) {
			names[m] = true
		}
	}
	var missing []string
	pipelinetest.Eventually(t, "every metric the dashboard and the rules name on /metrics", func() bool {
		body := fetch("http://" + smaintAddr + "/metrics")
		missing = missing[:0]
		for n := range names {
			if !strings.Contains(body, "\n"+n+"{") && !strings.Contains(body, "\n"+n+" ") {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			t.Logf("not served yet: %v", missing)
		}
		return len(missing) == 0
	})

	cfg := filepath.Join(dir, "prometheus.yml")
	rulesAbs, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "global: {scrape_interval: 1s, evaluation_interval: 1s}\nrule_files: [%q]\nscrape_configs:\n  - job_name: smaint\n    static_configs: [{targets: [%q]}]\n", rulesAbs, smaintAddr), 0o644); err != nil {
		t.Fatal(err)
	}
	p := exec.CommandContext(ctx, prom, "--config.file", cfg, "--storage.tsdb.path", filepath.Join(dir, "data"),
		"--web.listen-address", promAddr, "--log.level", "warn")
	p.Stdout, p.Stderr = io.Discard, io.Discard
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = p.Wait() }()
	query := func(q string) (string, int, error) {
		body := fetch("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		var res struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []json.RawMessage `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &res); err != nil {
			return "", 0, fmt.Errorf("%q: %v", body, err)
		}
		if res.Status != "success" {
			return res.Status, 0, fmt.Errorf("%s", res.Error)
		}
		return res.Status, len(res.Data.Result), nil
	}
	pipelinetest.Eventually(t, "Prometheus to have scraped smaint 15 times", func() bool {
		_, n, err := query(`count_over_time(up{job="smaint"}[2m]) >= 15`)
		return err == nil && n == 1
	})
	for _, q := range panels {
		_, n, err := query(q)
		if err != nil {
			t.Errorf("panel query %q: %v", q, err)
			continue
		}
		if n == 0 {
			t.Errorf("panel query %q returns no data from a running pipeline", q)
		}
	}
	for _, q := range rules {
		if _, _, err := query(q); err != nil {
			t.Errorf("rule %q: %v", q, err)
		}
	}
	// The rules loaded, and none of them fires on a healthy demo (its
	// TimescaleDB jobs may fail on this machine, but that needs an hour).
	if _, n, err := query(`ALERTS{alertstate="firing"}`); err != nil || n != 0 {
		t.Errorf("alerts firing on a healthy pipeline: %d (%v)", n, err)
	}
}

func fetch(u string) string {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
