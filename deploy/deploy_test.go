package deploy

// Static checks of the deployment files: there is no Docker engine or
// cluster to try them on, so they are held to the real binary's flags and
// to the invariants that break deployments quietly.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smaint/smaint/stages/forecast"
)

// yamlFiles returns every YAML file under deploy/.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no YAML files under deploy/")
	}
	return files
}

// loadYAML decodes every document of a file (merge keys resolved).
func loadYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for i := 1; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d does not parse: %v", path, i, err)
		}
		if doc == nil {
			t.Errorf("%s: document %d is empty", path, i)
			continue
		}
		docs = append(docs, doc)
	}
	return docs
}

// Accessors for decoded YAML: the zero value when the shape differs.
func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func list(v any) []any         { l, _ := v.([]any); return l }
func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
func dig(v any, keys ...string) any {
	for _, k := range keys {
		v = obj(v)[k]
	}
	return v
}

func TestYAMLParses(t *testing.T) {
	for _, f := range yamlFiles(t) {
		if docs := loadYAML(t, f); len(docs) == 0 {
			t.Errorf("%s: no YAML documents", f)
		}
	}
}

// TestEnvNamesAreFlags: every SMAINT_ name written anywhere in deploy/
// (manifests, comments, README, Dockerfile) is the twin of a real flag.
func TestEnvNamesAreFlags(t *testing.T) {
	c := loadCLI(t)
	name := regexp.MustCompile(`SMAINT_[A-Z0-9_]*[A-Z0-9]`)
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".go") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, n := range name.FindAllString(line, -1) {
				if _, ok := c.env[n]; !ok {
					t.Errorf("%s:%d: %v", p, i+1, c.checkEnvName(n))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// envOf returns a Compose service's environment, map or list form.
func envOf(svc map[string]any) map[string]string {
	env := map[string]string{}
	switch e := svc["environment"].(type) {
	case map[string]any:
		for k, v := range e {
			env[k] = str(v)
		}
	case []any:
		for _, kv := range e {
			k, v, _ := strings.Cut(str(kv), "=")
			env[k] = v
		}
	}
	return env
}

// stringList reads a Compose command/entrypoint: a list, or a string
// split on spaces (as Compose does, without quotes here).
func stringList(v any) []string {
	if s, ok := v.(string); ok {
		return strings.Fields(s)
	}
	var out []string
	for _, x := range list(v) {
		out = append(out, str(x))
	}
	return out
}

// composeDeps returns a Compose service's depends_on, list or map form,
// as service -> condition.
func composeDeps(svc map[string]any) map[string]string {
	deps := map[string]string{}
	switch d := svc["depends_on"].(type) {
	case []any:
		for _, x := range d {
			deps[str(x)] = "service_started"
		}
	case map[string]any:
		for k, x := range d {
			deps[k] = str(dig(x, "condition"))
		}
	}
	return deps
}

// hostPort returns the host side of a Compose port mapping ("9091:9090",
// "127.0.0.1:5432:5432", or the long form), "" when none is published.
func hostPort(p any) string {
	if s, ok := p.(string); ok {
		parts := strings.Split(strings.Split(s, "/")[0], ":")
		if len(parts) < 2 {
			return "" // container port only: an ephemeral host port
		}
		return parts[len(parts)-2]
	}
	return str(dig(p, "published"))
}

// composeSmaint is a smaint service of compose.yaml, as smaint sees it.
type composeSmaint struct {
	svc        map[string]any
	sub        string
	flags, env map[string]string
	stages     []string // of "run"
	deps       map[string]string
}

// pgHostFlag matches pg_isready's host option.
var pgHostFlag = regexp.MustCompile(`(^|\s)(-h|--host)(\s|=)`)

func TestCompose(t *testing.T) {
	c := loadCLI(t)
	const path = "compose.yaml"
	docs := loadYAML(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: want one document, got %d", path, len(docs))
	}
	doc := docs[0]
	services := obj(doc["services"])
	if len(services) == 0 {
		t.Fatalf("%s: no services", path)
	}
	for _, want := range []string{"kafka", "schema-registry", "redis", "timescaledb", "minio"} {
		if services[want] == nil {
			t.Errorf("%s: no service %q", path, want)
		}
	}
	if obj(doc["x-smaint"]) == nil {
		t.Errorf("%s: no x-smaint block for the smaint services to share", path)
	}
	volumes := obj(doc["volumes"])
	published := map[string][]string{} // host port -> services
	smaint := map[string]*composeSmaint{}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		svc := obj(services[name])
		where := fmt.Sprintf("%s: services.%s", path, name)

		// depends_on: targets exist; service_healthy needs a healthcheck.
		deps := composeDeps(svc)
		for dep, cond := range deps {
			target := obj(services[dep])
			switch {
			case target == nil:
				t.Errorf("%s.depends_on: no service %q", where, dep)
			case !slices.Contains([]string{"", "service_started", "service_healthy", "service_completed_successfully"}, cond):
				t.Errorf("%s.depends_on.%s: unknown condition %q", where, dep, cond)
			case cond == "service_healthy" && (target["healthcheck"] == nil || dig(target, "healthcheck", "disable") == true):
				t.Errorf("%s.depends_on.%s: service_healthy, but %s has no healthcheck", where, dep, dep)
			}
		}

		// pg_isready without a host checks the socket, which the postgres
		// images serve during their init too: "healthy" before TCP is.
		if hc := strings.Join(stringList(dig(svc, "healthcheck", "test")), " "); strings.Contains(hc, "pg_isready") && !pgHostFlag.MatchString(hc) {
			t.Errorf("%s.healthcheck: %q checks the Unix socket; add -h 127.0.0.1 so it waits for TCP (the socket answers during init)", where, hc)
		}

		// Named volumes are declared at the top level.
		for _, m := range list(svc["volumes"]) {
			src, _, _ := strings.Cut(str(m), ":")
			if src == "" || strings.ContainsAny(src[:1], "./~$") {
				continue // bind mount
			}
			if _, ok := volumes[src]; !ok {
				t.Errorf("%s.volumes: named volume %q is not declared under top-level volumes", where, src)
			}
		}

		for _, p := range list(svc["ports"]) {
			if h := hostPort(p); h != "" {
				published[h] = append(published[h], name)
			}
		}

		if !isSmaintImage(str(svc["image"])) && !strings.HasSuffix(str(dig(svc, "build", "dockerfile")), "deploy/Dockerfile") {
			continue
		}
		if ep := stringList(svc["entrypoint"]); len(ep) > 0 && !slices.Equal(ep, []string{"smaint"}) {
			t.Errorf("%s.entrypoint: %q; leave the image's ENTRYPOINT (smaint)", where, ep)
		}
		sub, flags, err := c.checkArgs(stringList(svc["command"]))
		if err != nil {
			t.Errorf("%s.command: %v", where, err)
			continue
		}
		env := envOf(svc)
		s := &composeSmaint{svc: svc, sub: sub, flags: flags, env: env, deps: deps}
		smaint[name] = s
		for k, v := range env {
			if err := c.checkEnv(k, v); err != nil {
				t.Errorf("%s.environment: %v", where, err)
			}
			// Addresses point at services of this file.
			for _, h := range hosts(c.env[k], v) {
				if services[h] == nil && h != "localhost" {
					t.Errorf("%s.environment.%s: host %q is no service of %s", where, k, h, path)
				}
			}
		}
		if _, ok := c.commands[sub]["brokers"]; ok && env["KAFKA_BROKERS"] == "" && flags["brokers"] == "" {
			t.Errorf("%s: no brokers (KAFKA_BROKERS or --brokers)", where)
		}
		if sub == "run" {
			s.stages = c.runStages(flags, env)
		}
		if url, _ := c.databaseURL(sub, flags, env); url == "" && needsDatabase(sub, s.stages) {
			t.Errorf("%s: smaint %s (stages %v) needs a database: set DATABASE_URL or --database-url", where, sub, s.stages)
		}
		restart := str(svc["restart"])
		if !slices.Contains(longRunning, sub) {
			// A one-shot restarted by Compose runs again and again, and
			// never "completes" for service_completed_successfully.
			if restart != "" && restart != "no" {
				t.Errorf("%s.restart: %q for the one-shot smaint %s; want \"no\"", where, restart, sub)
			}
			continue
		}
		if restart == "" || restart == "no" {
			t.Errorf("%s.restart: %q; a stage that exits (a fatal error) should come back: want unless-stopped", where, restart)
		}
		// A stage drains on SIGTERM: Compose must wait longer than that.
		if grace, err := time.ParseDuration(str(svc["stop_grace_period"])); err != nil || grace <= drainTimeout {
			t.Errorf("%s.stop_grace_period: %q; want more than the %v drain (Compose's default is 10s)", where, str(svc["stop_grace_period"]), drainTimeout)
		}
		// Published ports include smaint's HTTP port.
		port, ok := c.httpPort(flags, env), false
		for _, p := range list(svc["ports"]) {
			target := str(dig(p, "target"))
			if s, isStr := p.(string); isStr {
				parts := strings.Split(strings.Split(s, "/")[0], ":")
				target = parts[len(parts)-1]
			}
			ok = ok || target == port
		}
		if !ok {
			t.Errorf("%s.ports: do not publish smaint's HTTP port %s (/metrics, /readyz)", where, port)
		}
	}

	for _, want := range []string{"smaint-migrate", "smaint-dedupe", "smaint-analytics", "smaint-sink", "simulator"} {
		if smaint[want] == nil {
			t.Errorf("%s: no smaint service %q (image smaint* or build deploy/Dockerfile, with a valid command)", path, want)
		}
	}
	if p := list(dig(services, "simulator", "profiles")); !slices.Contains(p, any("sim")) {
		t.Errorf("%s: services.simulator is not in profile \"sim\" (profiles: %v)", path, p)
	}
	for port, by := range published {
		if len(by) > 1 {
			t.Errorf("%s: host port %s is published by %s; only one can have it", path, port, strings.Join(by, " and "))
		}
	}

	// `up` (no profile) runs every stage, each in one service: a stage in
	// two services is two members of one group, in none it is missing.
	runBy := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(smaint)) {
		if s := smaint[name]; s.sub == "run" && len(list(s.svc["profiles"])) == 0 {
			for _, st := range s.stages {
				runBy[st] = append(runBy[st], name)
			}
		}
	}
	for _, st := range c.stages {
		// Failure prediction needs a classifier trained first: it runs in
		// its own profile, "predict", and nowhere else.
		if needsClassifier(st) {
			if by := predictBy(smaint); len(runBy[st]) != 0 || !slices.Equal(by[st], []string{"smaint-predict"}) {
				t.Errorf("%s: stage %s is run by %v without a profile and %v in profile predict; want only smaint-predict, in profile predict", path, st, runBy[st], by[st])
			}
			continue
		}
		if len(runBy[st]) != 1 {
			t.Errorf("%s: stage %s is run by %d services %v; want exactly one", path, st, len(runBy[st]), runBy[st])
		}
	}

	for _, name := range slices.Sorted(maps.Keys(smaint)) {
		s := smaint[name]
		where := fmt.Sprintf("%s: services.%s", path, name)
		url, _ := c.databaseURL(s.sub, s.flags, s.env)
		switch {
		case s.sub == "migrate":
			// migrate connects once: the database must be up.
			for _, h := range hosts("database-url", url) {
				if services[h] != nil && s.deps[h] != "service_healthy" {
					t.Errorf("%s.depends_on: want %s: {condition: service_healthy}, the database it migrates (got %q)", where, h, s.deps[h])
				}
			}
		case slices.Contains(s.stages, "sink"):
			// The sink writes tables that migrate creates.
			waits := false
			for dep, cond := range s.deps {
				m := smaint[dep]
				if m == nil || m.sub != "migrate" || cond != "service_completed_successfully" {
					continue
				}
				if mu, _ := c.databaseURL(m.sub, m.flags, m.env); mu != url {
					t.Errorf("%s: waits for %s, which migrates %q, but writes to %q", where, dep, mu, url)
				}
				waits = true
			}
			if !waits {
				t.Errorf("%s.depends_on: the sink does not wait for a migrate service with condition service_completed_successfully", where)
			}
		}
	}
}

func isSmaintImage(image string) bool {
	name := image[strings.LastIndex(image, "/")+1:]
	name, _, _ = strings.Cut(name, ":")
	return name == "smaint"
}

// k8sObject is one manifest, with where it came from.
type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return str(o.doc["kind"]) }
func (o k8sObject) name() string { return str(dig(o.doc, "metadata", "name")) }
func (o k8sObject) String() string {
	return fmt.Sprintf("k8s/%s: %s/%s", o.file, o.kind(), o.name())
}

func loadK8s(t *testing.T) (objs []k8sObject, kustomization map[string]any) {
	t.Helper()
	entries, err := os.ReadDir("k8s")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		for _, doc := range loadYAML(t, filepath.Join("k8s", e.Name())) {
			if e.Name() == "kustomization.yaml" {
				kustomization = doc
				continue
			}
			objs = append(objs, k8sObject{e.Name(), doc})
		}
	}
	return objs, kustomization
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	_, k := loadK8s(t)
	if k == nil {
		t.Fatal("k8s/kustomization.yaml is missing")
	}
	listed := map[string]bool{}
	for _, r := range list(k["resources"]) {
		listed[str(r)] = true
		if _, err := os.Stat(filepath.Join("k8s", str(r))); err != nil {
			t.Errorf("k8s/kustomization.yaml: resource %q: %v", r, err)
		}
	}
	// Every manifest is listed, except examples (the Secret with placeholder
	// values), which must not be: applying them would overwrite real ones.
	entries, _ := os.ReadDir("k8s")
	for _, e := range entries {
		n := e.Name()
		example := strings.HasSuffix(n, ".example.yaml")
		switch {
		case example && listed[n]:
			t.Errorf("k8s/kustomization.yaml lists %s: kubectl apply -k would overwrite the real values with placeholders", n)
		case !example && strings.HasSuffix(n, ".yaml") && n != "kustomization.yaml" && !listed[n]:
			t.Errorf("k8s/kustomization.yaml: resources does not list %s", n)
		}
	}
}

// smaintContainer is a smaint container of a workload, as smaint sees it.
type smaintContainer struct {
	where      string
	sub        string
	flags, env map[string]string
	source     map[string]string // env name -> where its value comes from
	stages     []string          // of "run"
	ports      map[string]string // port name and number -> containerPort
}

// workload is a Deployment or a Job.
type workload struct {
	k8sObject
	labels map[string]any // of its pods
	ctrs   []*smaintContainer
}

// selectedBy reports whether a non-empty selector matches the workload's pods.
func (w *workload) selectedBy(sel map[string]any) bool {
	return len(sel) > 0 && subset(sel, w.labels)
}

func TestK8sManifests(t *testing.T) {
	c := loadCLI(t)
	objs, _ := loadK8s(t)
	namespace := ""
	config := map[string]map[string]string{} // "ConfigMap/name" -> data
	for _, o := range objs {
		if str(o.doc["apiVersion"]) == "" || o.kind() == "" || o.name() == "" {
			t.Errorf("%s: want apiVersion, kind and metadata.name", o)
		}
		switch o.kind() {
		case "Namespace":
			namespace = o.name()
		case "ConfigMap", "Secret":
			data := map[string]string{}
			for _, field := range []string{"data", "stringData"} {
				for k, v := range obj(o.doc[field]) {
					data[k] = str(v)
					if o.kind() == "ConfigMap" && c.secretEnv(k) {
						t.Errorf("%s: %s holds a credential; put it in the Secret", o, k)
					}
				}
			}
			config[o.kind()+"/"+o.name()] = data
		}
	}
	if namespace == "" {
		t.Fatal("k8s: no Namespace")
	}
	// ConfigMaps and Secrets feed smaint's environment whole (envFrom).
	for ref, data := range config {
		for k, v := range data {
			if err := c.checkEnv(k, v); err != nil {
				t.Errorf("k8s %s: %v", ref, err)
			}
		}
	}

	var workloads []*workload
	for _, o := range objs {
		if o.kind() != "Namespace" && str(dig(o.doc, "metadata", "namespace")) != namespace {
			t.Errorf("%s: metadata.namespace %q, want %q", o, str(dig(o.doc, "metadata", "namespace")), namespace)
		}
		if o.kind() != "Deployment" && o.kind() != "Job" {
			continue
		}
		w := &workload{k8sObject: o, labels: obj(dig(o.doc, "spec", "template", "metadata", "labels"))}
		workloads = append(workloads, w)
		spec := obj(dig(o.doc, "spec", "template", "spec"))
		if !slices.ContainsFunc(list(spec["containers"]), func(ct any) bool { return isSmaintImage(str(dig(ct, "image"))) }) {
			t.Errorf("%s: no smaint container (image smaint)", o)
		}
		w.ctrs = checkPodSpec(t, c, o, spec, config)
		switch o.kind() {
		case "Deployment":
			if sel := obj(dig(o.doc, "spec", "selector", "matchLabels")); len(sel) == 0 || !subset(sel, w.labels) {
				t.Errorf("%s: spec.selector.matchLabels %v does not select the pod template's labels %v", o, sel, w.labels)
			}
			for _, ct := range w.ctrs {
				if !slices.Contains(longRunning, ct.sub) {
					t.Errorf("%s: smaint %s exits when done, and a Deployment restarts it forever; run it as a Job", ct.where, ct.sub)
				}
			}
			if g, ok := spec["terminationGracePeriodSeconds"].(int); !ok || time.Duration(g)*time.Second <= drainTimeout {
				t.Errorf("%s: terminationGracePeriodSeconds %v; want more than the %v drain", o, spec["terminationGracePeriodSeconds"], drainTimeout)
			}
		case "Job":
			for _, ct := range w.ctrs {
				if slices.Contains(longRunning, ct.sub) {
					t.Errorf("%s: smaint %s runs until stopped; a Job never completes with it", ct.where, ct.sub)
				}
			}
			if rp := str(spec["restartPolicy"]); rp != "OnFailure" && rp != "Never" {
				t.Errorf("%s: restartPolicy %q; a Job's pods need OnFailure or Never", o, rp)
			}
			for _, field := range []string{"backoffLimit", "ttlSecondsAfterFinished"} {
				if n, ok := dig(o.doc, "spec", field).(int); !ok || n < 0 {
					t.Errorf("%s: spec.%s %v; want a non-negative number", o, field, dig(o.doc, "spec", field))
				}
			}
		}
	}
	if !slices.ContainsFunc(workloads, func(w *workload) bool { return w.kind() == "Deployment" }) {
		t.Error("k8s: no Deployment")
	}

	// A Deployment's selector owns only its own pods: overlapping ones
	// fight over pods.
	for _, w := range workloads {
		sel := obj(dig(w.doc, "spec", "selector", "matchLabels"))
		for _, other := range workloads {
			if w.kind() == "Deployment" && other != w && other.selectedBy(sel) {
				t.Errorf("%s: spec.selector.matchLabels %v also selects the pods of %s", w, sel, other)
			}
		}
	}

	// Services and PodDisruptionBudgets select one Deployment's pods; every
	// Deployment has a metrics Service and a PodDisruptionBudget.
	services, pdbs := map[*workload][]k8sObject{}, map[*workload][]k8sObject{}
	for _, o := range objs {
		var sel map[string]any
		switch o.kind() {
		case "Service":
			sel = obj(dig(o.doc, "spec", "selector"))
		case "PodDisruptionBudget":
			sel = obj(dig(o.doc, "spec", "selector", "matchLabels"))
		default:
			continue
		}
		var matched []*workload
		for _, w := range workloads {
			if w.selectedBy(sel) {
				matched = append(matched, w)
			}
		}
		if len(matched) != 1 || matched[0].kind() != "Deployment" {
			t.Errorf("%s: selector %v matches %d workloads %v; want the pods of one Deployment", o, sel, len(matched), matched)
			continue
		}
		w := matched[0]
		if o.kind() == "PodDisruptionBudget" {
			pdbs[w] = append(pdbs[w], o)
			if !pdbAllowsDisruption(obj(o.doc["spec"]), w) {
				t.Errorf("%s: maxUnavailable %v, minAvailable %v with %v replicas: allows no disruption, so node drains block", o,
					dig(o.doc, "spec", "maxUnavailable"), dig(o.doc, "spec", "minAvailable"), replicas(w))
			}
			continue
		}
		services[w] = append(services[w], o)
		checkMetricsService(t, c, o, w)
	}
	for _, w := range workloads {
		if w.kind() != "Deployment" {
			continue
		}
		if len(services[w]) == 0 {
			t.Errorf("%s: no Service selects its pods (for /metrics)", w)
		}
		if len(pdbs[w]) == 0 {
			t.Errorf("%s: no PodDisruptionBudget selects its pods", w)
		}
	}

	// Every stage runs in exactly one Deployment: in two, the replicas of
	// both share its group; in none, it is missing.
	runBy := map[string][]string{}
	for _, w := range workloads {
		for _, ct := range w.ctrs {
			if w.kind() == "Deployment" && ct.sub == "run" {
				for _, st := range ct.stages {
					runBy[st] = append(runBy[st], w.name())
				}
			}
		}
	}
	for _, st := range c.stages {
		// The retrain worker and failure prediction need a model store the
		// manifests do not bring (and prediction a classifier trained
		// first): they run where one is configured, in one Deployment at most.
		if (st == "retrain" || needsClassifier(st)) && len(runBy[st]) <= 1 {
			continue
		}
		if len(runBy[st]) != 1 {
			t.Errorf("k8s: stage %s is run by %d Deployments %v; want exactly one", st, len(runBy[st]), runBy[st])
		}
	}

	// The database: given where it is needed, from a Secret (it has a
	// password), and the sink's is the one a migrate Job migrates.
	for _, w := range workloads {
		for _, ct := range w.ctrs {
			url, from := c.databaseURL(ct.sub, ct.flags, ct.env)
			if url == "" {
				if needsDatabase(ct.sub, ct.stages) {
					t.Errorf("%s: smaint %s (stages %v) needs a database: DATABASE_URL from the Secret", ct.where, ct.sub, ct.stages)
				}
				continue
			}
			if !strings.HasPrefix(ct.source[from], "Secret/") {
				t.Errorf("%s: the database URL comes from %s (%s); it holds a password: take it from the Secret", ct.where, from, ct.source[from])
			}
			if !slices.Contains(ct.stages, "sink") {
				continue
			}
			migrated := slices.ContainsFunc(workloads, func(j *workload) bool {
				return j.kind() == "Job" && slices.ContainsFunc(j.ctrs, func(m *smaintContainer) bool {
					_, mfrom := c.databaseURL(m.sub, m.flags, m.env)
					return m.sub == "migrate" && mfrom != "" && m.source[mfrom] == ct.source[from]
				})
			})
			if !migrated {
				t.Errorf("%s: the sink writes to the database of %s, and no Job runs smaint migrate on it", ct.where, ct.source[from])
			}
		}
	}
}

func subset(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// replicas is a Deployment's spec.replicas (1 when unset).
func replicas(w *workload) int {
	if n, ok := dig(w.doc, "spec", "replicas").(int); ok {
		return n
	}
	return 1
}

// pdbAllowsDisruption reports whether a PodDisruptionBudget lets a node
// drain evict at least one of the Deployment's pods.
func pdbAllowsDisruption(spec map[string]any, w *workload) bool {
	percent := func(v any) (int, bool) {
		s, ok := v.(string)
		if !ok || !strings.HasSuffix(s, "%") {
			return 0, false
		}
		n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
		return n, err == nil
	}
	if v, ok := spec["maxUnavailable"]; ok {
		if n, ok := v.(int); ok {
			return n > 0
		}
		p, ok := percent(v)
		return ok && p > 0 // rounded up: any share above 0% is a pod
	}
	if v, ok := spec["minAvailable"]; ok {
		if n, ok := v.(int); ok {
			return n < replicas(w)
		}
		p, ok := percent(v)
		return ok && (p*replicas(w)+99)/100 < replicas(w) // rounded up
	}
	return false // neither: the API rejects it
}

// checkMetricsService checks that a Service reaches the HTTP port of the
// Deployment it selects, and that a Prometheus port annotation names it.
func checkMetricsService(t *testing.T, c *smaintCLI, o k8sObject, w *workload) {
	t.Helper()
	for _, ct := range w.ctrs {
		if ct.sub != "run" {
			continue
		}
		port := c.httpPort(ct.flags, ct.env)
		reaches := slices.ContainsFunc(list(dig(o.doc, "spec", "ports")), func(p any) bool {
			target := str(dig(p, "targetPort"))
			if target == "" {
				target = str(dig(p, "port")) // targetPort defaults to port
			}
			return ct.ports[target] == port
		})
		if !reaches {
			t.Errorf("%s: no port's targetPort is the metrics port %s of %s", o, port, ct.where)
		}
		if a, ok := obj(dig(o.doc, "metadata", "annotations"))["prometheus.io/port"]; ok && str(a) != port {
			t.Errorf("%s: annotation prometheus.io/port %q, but smaint serves /metrics on %s", o, str(a), port)
		}
	}
}

// checkPodSpec checks a workload's pods: smaint's command line and
// environment, the probes on its HTTP port, security, resources. It
// returns the smaint containers.
func checkPodSpec(t *testing.T, c *smaintCLI, o k8sObject, spec map[string]any, config map[string]map[string]string) []*smaintContainer {
	t.Helper()
	if dig(spec, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("%s: want securityContext.seccompProfile.type: RuntimeDefault", o)
	}
	podNonRoot := dig(spec, "securityContext", "runAsNonRoot") == true
	var out []*smaintContainer
	for _, cv := range list(spec["containers"]) {
		ctr := obj(cv)
		where := fmt.Sprintf("%s: container %s", o, str(ctr["name"]))
		if !isSmaintImage(str(ctr["image"])) {
			continue
		}
		args := stringList(ctr["args"])
		if cmd := stringList(ctr["command"]); len(cmd) > 0 {
			if filepath.Base(cmd[0]) != "smaint" {
				t.Errorf("%s: command %q does not run smaint", where, cmd)
				continue
			}
			args = append(cmd[1:], args...)
		}
		sub, flags, err := c.checkArgs(args)
		if err != nil {
			t.Errorf("%s: args: %v", where, err)
			continue
		}
		ct := &smaintContainer{where: where, sub: sub, flags: flags, env: map[string]string{}, source: map[string]string{}, ports: map[string]string{}}
		out = append(out, ct)

		for _, ef := range list(ctr["envFrom"]) {
			for kind, field := range map[string]string{"ConfigMap": "configMapRef", "Secret": "secretRef"} {
				if ref := obj(dig(ef, field)); ref != nil {
					src := kind + "/" + str(ref["name"])
					data, ok := config[src]
					if !ok && ref["optional"] != true {
						t.Errorf("%s: envFrom %s %q is not defined in deploy/k8s", where, field, str(ref["name"]))
					}
					for k, v := range data {
						ct.env[k], ct.source[k] = v, src+" key "+k
					}
				}
			}
		}
		for _, e := range list(ctr["env"]) {
			k, v := str(dig(e, "name")), str(dig(e, "value"))
			src := "a literal value"
			for kind, field := range map[string]string{"ConfigMap": "configMapKeyRef", "Secret": "secretKeyRef"} {
				if ref := obj(dig(e, "valueFrom", field)); ref != nil {
					src = kind + "/" + str(ref["name"]) + " key " + str(ref["key"])
					var ok bool
					if v, ok = config[kind+"/"+str(ref["name"])][str(ref["key"])]; !ok && ref["optional"] != true {
						t.Errorf("%s: env %s: %s %s has no key %q in deploy/k8s", where, k, kind, str(ref["name"]), str(ref["key"]))
					}
				}
			}
			if dig(e, "valueFrom") != nil && !strings.HasPrefix(src, "ConfigMap/") && !strings.HasPrefix(src, "Secret/") {
				if err := c.checkEnvName(k); err != nil { // fieldRef and friends: no value to check
					t.Errorf("%s: env: %v", where, err)
				}
			} else if err := c.checkEnv(k, v); err != nil {
				t.Errorf("%s: env: %v", where, err)
			}
			if src == "a literal value" && c.secretEnv(k) {
				t.Errorf("%s: env %s holds a credential in the manifest; take it from the Secret", where, k)
			}
			ct.env[k], ct.source[k] = v, src
		}
		if _, ok := c.commands[sub]["brokers"]; ok && ct.env["KAFKA_BROKERS"] == "" && flags["brokers"] == "" {
			t.Errorf("%s: no brokers (KAFKA_BROKERS or --brokers)", where)
		}

		if !podNonRoot && dig(ctr, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: want securityContext.runAsNonRoot: true", where)
		}
		if dig(ctr, "securityContext", "readOnlyRootFilesystem") != true {
			t.Errorf("%s: want securityContext.readOnlyRootFilesystem: true", where)
		}
		if dig(ctr, "securityContext", "allowPrivilegeEscalation") != false {
			t.Errorf("%s: want securityContext.allowPrivilegeEscalation: false", where)
		}
		if !slices.Contains(list(dig(ctr, "securityContext", "capabilities", "drop")), any("ALL")) {
			t.Errorf("%s: want securityContext.capabilities.drop: [ALL]", where)
		}
		for _, r := range []string{"requests", "limits"} {
			if len(obj(dig(ctr, "resources", r))) == 0 {
				t.Errorf("%s: no resources.%s", where, r)
			}
		}
		for _, p := range list(ctr["ports"]) {
			ct.ports[str(dig(p, "name"))] = str(dig(p, "containerPort"))
			ct.ports[str(dig(p, "containerPort"))] = str(dig(p, "containerPort"))
		}
		if sub != "run" {
			continue
		}
		ct.stages = c.runStages(flags, ct.env)

		// The probes reach smaint's HTTP server.
		port := c.httpPort(flags, ct.env)
		if !slices.Contains(slices.Collect(maps.Values(ct.ports)), port) {
			t.Errorf("%s: no containerPort %s (smaint's --http)", where, port)
		}
		for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
			get := obj(dig(ctr, probe, "httpGet"))
			if get == nil {
				t.Errorf("%s: no %s.httpGet", where, probe)
				continue
			}
			if p := str(get["path"]); p != path {
				t.Errorf("%s: %s.httpGet.path %q, want %q", where, probe, p, path)
			}
			if p := ct.ports[str(get["port"])]; p != port || p != "9090" {
				t.Errorf("%s: %s.httpGet.port %v is port %q, want smaint's HTTP port %s (9090)", where, probe, get["port"], p, port)
			}
		}
	}
	return out
}

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct {
	line      int
	cmd, args string
}

func readDockerfile(t *testing.T, path string) []dockerInstr {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []dockerInstr
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, dockerInstr{start, strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	c := loadCLI(t)
	const path = "Dockerfile"
	instrs := readDockerfile(t, path)
	type stage struct {
		from, name string
		instrs     []dockerInstr
	}
	var stages []*stage
	for _, in := range instrs {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := &stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	if len(stages) < 2 {
		t.Fatalf("%s: want a multi-stage build (builder + runtime), got %d stages", path, len(stages))
	}

	// The builder: golang at least as new as go.mod's go line, building ./cmd/smaint.
	builder, runtime := stages[0], stages[len(stages)-1]
	img, tag, _ := strings.Cut(builder.from, ":")
	if img != "golang" || builder.name == "" {
		t.Errorf("%s: first stage is FROM %s AS %q, want FROM golang:<version> AS <name>", path, builder.from, builder.name)
	}
	if want := goModVersion(t); !versionAtLeast(tag, want) {
		t.Errorf("%s: builder golang:%s is older than go.mod's go %s", path, tag, want)
	}
	builds := slices.ContainsFunc(builder.instrs, func(in dockerInstr) bool {
		return in.cmd == "RUN" && strings.Contains(in.args, "go build") && strings.Contains(in.args, "./cmd/smaint")
	})
	if !builds {
		t.Errorf("%s: the builder stage has no RUN go build ... ./cmd/smaint", path)
	}
	// The image is the production build, which readCLI checks the
	// manifests against: no demo, no embedded services.
	prod := slices.ContainsFunc(builder.instrs, func(in dockerInstr) bool {
		return in.cmd == "RUN" && strings.Contains(in.args, "go build") && strings.Contains(in.args, "-tags "+prodTags)
	})
	if !prod {
		t.Errorf("%s: the binary is not built with -tags %s", path, prodTags)
	}

	// The runtime: a different base, the binary on PATH, non-root, ENTRYPOINT smaint.
	if strings.HasPrefix(runtime.from, "golang") {
		t.Errorf("%s: the final stage is FROM %s; want a slim runtime image", path, runtime.from)
	}
	var user, entrypoint, cmd string
	copied := false
	for _, in := range runtime.instrs {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "CMD":
			cmd = in.args
		case "COPY":
			f := strings.Fields(in.args)
			if slices.Contains(f, "--from="+builder.name) && slices.Contains([]string{"/usr/local/bin/smaint", "/usr/bin/smaint", "/bin/smaint"}, f[len(f)-1]) {
				copied = true
			}
		}
	}
	if !copied {
		t.Errorf("%s: the final stage does not COPY --from=%s the binary to a directory on PATH (/usr/local/bin/smaint)", path, builder.name)
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("%s: the final stage's USER is %q; want a non-root user (numeric, for runAsNonRoot)", path, user)
	} else if _, err := strconv.Atoi(u); err != nil {
		t.Errorf("%s: USER %q is not numeric; Kubernetes' runAsNonRoot cannot verify a user name", path, user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || !slices.Equal(ep, []string{"smaint"}) {
		t.Errorf("%s: ENTRYPOINT %s; want the exec form [\"smaint\"] (compose and k8s pass the subcommand as args)", path, entrypoint)
	}
	if cmd != "" {
		var args []string
		if err := json.Unmarshal([]byte(cmd), &args); err != nil {
			t.Errorf("%s: CMD %s is not in exec form", path, cmd)
		} else if _, _, err := c.checkArgs(args); err != nil {
			t.Errorf("%s: CMD: %v", path, err)
		}
	}
}

func goModVersion(t *testing.T) string {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("../go.mod has no go line")
	}
	return string(m[1])
}

// versionAtLeast compares the major.minor of a golang image tag
// ("1.26", "1.26.1-bookworm") with want ("1.26").
func versionAtLeast(tag, want string) bool {
	num := func(s string) (int, int) {
		s, _, _ = strings.Cut(s, "-")
		f := strings.SplitN(s, ".", 3)
		if len(f) < 2 {
			return -1, -1
		}
		a, err1 := strconv.Atoi(f[0])
		b, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return -1, -1
		}
		return a, b
	}
	ta, tb := num(tag)
	wa, wb := num(want)
	return ta > wa || ta == wa && tb >= wb
}

// The example limits file is one smaint reads.
func TestLimitsExampleLoads(t *testing.T) {
	ls, err := forecast.LoadLimits("limits.example.json")
	if err != nil || len(ls) != 4 {
		t.Fatalf("%d limits, %v", len(ls), err)
	}
}

// needsClassifier: the stage runs only with a supervised model in the
// model store (smaint train --labels, --task rul).
func needsClassifier(stage string) bool {
	return stage == "byasset" || stage == "predict" || stage == "rul"
}

// predictBy maps each stage to the services of profile "predict" that
// run it.
func predictBy(smaint map[string]*composeSmaint) map[string][]string {
	by := map[string][]string{}
	for _, name := range slices.Sorted(maps.Keys(smaint)) {
		if s := smaint[name]; s.sub == "run" && slices.Contains(list(s.svc["profiles"]), any("predict")) {
			for _, st := range s.stages {
				by[st] = append(by[st], name)
			}
		}
	}
	return by
}
