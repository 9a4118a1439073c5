package deploy

// What the real smaint binary accepts, read from its -h output, and the
// checks of a command line or an environment variable against it.

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// drainTimeout is the runner's default drain after SIGTERM
// (pipeline/options.go); stop grace periods must exceed it.
const drainTimeout = 30 * time.Second

// envAliases are the variables, besides SMAINT_<FLAG>, that smaint reads
// (cmd/smaint: fs.alias). --database comes with the stages that use it;
// its variable is accepted already.
var envAliases = map[string]string{
	"KAFKA_BROKERS": "brokers",
	"REDIS_URL":     "redis",
	"DATABASE_URL":  "database",
}

// goRuntimeEnv are variables the Go runtime reads in any smaint container.
var goRuntimeEnv = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG", "TZ"}

// smaintCLI is the command line of the real binary.
type smaintCLI struct {
	commands map[string]map[string]string // subcommand -> flag -> type (bool, int, string, ...)
	env      map[string]string            // SMAINT_FOO -> foo, and the aliases
	types    map[string]string            // flag -> type, over all subcommands
	defaults map[string]string            // flag -> default shown in the usage
	stages   []string                     // what --stages accepts besides "all"
}

var (
	cliOnce sync.Once
	cli     *smaintCLI
	cliErr  error
	tmpDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	os.Exit(code)
}

// loadCLI builds ../cmd/smaint once and reads every subcommand's flags
// from its usage.
func loadCLI(t *testing.T) *smaintCLI {
	t.Helper()
	cliOnce.Do(func() { cli, cliErr = readCLI() })
	if cliErr != nil {
		t.Fatalf("reading smaint's flags from the real binary: %v", cliErr)
	}
	return cli
}

var (
	commandLine = regexp.MustCompile(`(?m)^  ([a-z][a-z-]*) {2,}\S`)
	flagLine    = regexp.MustCompile(`(?m)^  -([a-z0-9][a-z0-9-]*)(?: ([a-z0-9]+))?\n\s+(.*)$`)
	defaultIn   = regexp.MustCompile(`\(default "?(.*?)"?\)$`)
	stagesLine  = regexp.MustCompile(`(?m)^\s+stages to run: all, or a list of (.*?)(?: \(default .*\))?$`)
)

func readCLI() (*smaintCLI, error) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "smaint-deploy-test"); err != nil {
		return nil, err
	}
	bin := filepath.Join(tmpDir, "smaint")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/smaint").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ../cmd/smaint: %v\n%s", err, out)
	}
	help, err := exec.Command(bin, "help").Output()
	if err != nil {
		return nil, fmt.Errorf("smaint help: %v", err)
	}
	c := &smaintCLI{commands: map[string]map[string]string{}, env: map[string]string{}, types: map[string]string{}, defaults: map[string]string{}}
	for _, m := range commandLine.FindAllStringSubmatch(string(help), -1) {
		c.commands[m[1]] = map[string]string{}
	}
	for _, want := range []string{"run", "simulate", "demo"} {
		if _, ok := c.commands[want]; !ok {
			return nil, fmt.Errorf("smaint help lists no %q command:\n%s", want, help)
		}
	}
	for name, flags := range c.commands {
		cmd := exec.Command(bin, name, "-h")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("smaint %s -h: %v\n%s", name, err, stderr.String())
		}
		usage := stderr.String()
		for _, m := range flagLine.FindAllStringSubmatch(usage, -1) {
			typ := m[2]
			if typ == "" {
				typ = "bool" // the flag package prints no type for bool flags
			}
			flags[m[1]] = typ
			c.types[m[1]] = typ
			if d := defaultIn.FindStringSubmatch(m[3]); d != nil {
				c.defaults[m[1]] = d[1]
			}
			c.env["SMAINT_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = m[1]
		}
		if len(flags) == 0 {
			return nil, fmt.Errorf("smaint %s -h shows no flags on stderr:\n%s", name, usage)
		}
		if m := stagesLine.FindStringSubmatch(usage); m != nil {
			c.stages = strings.Split(m[1], ", ")
		}
	}
	if len(c.stages) == 0 {
		return nil, fmt.Errorf("no subcommand's usage lists the stages of --stages")
	}
	for env, flag := range envAliases {
		c.env[env] = flag
		if c.types[flag] == "" {
			c.types[flag] = "string"
		}
	}
	return c, nil
}

// checkEnvName reports a variable set for a smaint container that smaint
// would not read (a typo, or a flag that does not exist).
func (c *smaintCLI) checkEnvName(name string) error {
	if _, ok := c.env[name]; ok || slices.Contains(goRuntimeEnv, name) {
		return nil
	}
	if strings.HasPrefix(name, "SMAINT_") {
		return fmt.Errorf("%s is the env twin of no smaint flag (--%s does not exist in run, simulate or demo)",
			name, strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "SMAINT_"), "_", "-")))
	}
	return fmt.Errorf("%s is not read by smaint (want SMAINT_<FLAG>, %s, or a Go runtime variable)", name, strings.Join(slices.Sorted(maps.Keys(envAliases)), ", "))
}

// checkEnv checks a variable's name and, for smaint's, its value.
func (c *smaintCLI) checkEnv(name, value string) error {
	if err := c.checkEnvName(name); err != nil {
		return err
	}
	if flag, ok := c.env[name]; ok {
		if err := c.checkValue(flag, value); err != nil {
			return fmt.Errorf("%s=%q: %v", name, value, err)
		}
	}
	return nil
}

// checkArgs parses a command line as smaint would (without the leading
// "smaint"): a known subcommand, then only its flags, each with a value
// of its type, and no positional arguments (smaint rejects them). It
// returns the subcommand and the flags set.
func (c *smaintCLI) checkArgs(args []string) (sub string, set map[string]string, err error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("no subcommand (the image's ENTRYPOINT is smaint; want one of %s)", strings.Join(slices.Sorted(maps.Keys(c.commands)), ", "))
	}
	sub = args[0]
	flags, ok := c.commands[sub]
	if !ok {
		return "", nil, fmt.Errorf("unknown subcommand %q (want one of %s)", sub, strings.Join(slices.Sorted(maps.Keys(c.commands)), ", "))
	}
	set = map[string]string{}
	for rest := args[1:]; len(rest) > 0; {
		a := rest[0]
		rest = rest[1:]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return sub, nil, fmt.Errorf("smaint %s: positional argument %q (smaint takes flags only)", sub, a)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		typ, ok := flags[name]
		if !ok {
			return sub, nil, fmt.Errorf("smaint %s has no flag --%s", sub, name)
		}
		if !hasValue {
			if typ == "bool" {
				value = "true"
			} else if len(rest) == 0 {
				return sub, nil, fmt.Errorf("smaint %s: --%s needs a value", sub, name)
			} else {
				value, rest = rest[0], rest[1:]
			}
		}
		if err := c.checkValue(name, value); err != nil {
			return sub, nil, fmt.Errorf("smaint %s --%s %q: %v", sub, name, value, err)
		}
		set[name] = value
	}
	return sub, set, nil
}

// composeVar matches Compose interpolation, ${NAME} or ${NAME:-default}.
var composeVar = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}`)

// checkValue checks a flag's value: its type, and the form of addresses.
func (c *smaintCLI) checkValue(flag, v string) error {
	v = composeVar.ReplaceAllString(v, "${1}")
	var err error
	switch c.types[flag] {
	case "bool":
		_, err = strconv.ParseBool(v)
	case "int":
		_, err = strconv.ParseInt(v, 10, 64)
	case "float":
		_, err = strconv.ParseFloat(v, 64)
	case "duration":
		_, err = time.ParseDuration(v)
	}
	if err != nil {
		return fmt.Errorf("not a %s: %v", c.types[flag], err)
	}
	switch flag {
	case "brokers":
		for _, b := range strings.Split(v, ",") {
			if _, _, err := net.SplitHostPort(strings.TrimSpace(b)); err != nil {
				return fmt.Errorf("broker %q is not host:port", b)
			}
		}
	case "http":
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("not [host]:port: %v", err)
		}
	case "registry":
		return checkURL(v, "http", "https")
	case "redis":
		return checkURL(v, "redis", "rediss")
	case "database":
		return checkURL(v, "postgres", "postgresql")
	case "stages":
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "all" && !slices.Contains(c.stages, s) {
				return fmt.Errorf("unknown stage %q (want all or %s)", s, strings.Join(c.stages, ", "))
			}
		}
	}
	return nil
}

func checkURL(v string, schemes ...string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	if !slices.Contains(schemes, u.Scheme) || u.Host == "" {
		return fmt.Errorf("want a %s:// URL with a host", strings.Join(schemes, ":// or "))
	}
	return nil
}

// hosts returns the hosts an address-valued variable or flag points at.
func hosts(flag, v string) []string {
	v = composeVar.ReplaceAllString(v, "${1}")
	switch flag {
	case "brokers":
		var hs []string
		for _, b := range strings.Split(v, ",") {
			if h, _, err := net.SplitHostPort(strings.TrimSpace(b)); err == nil {
				hs = append(hs, h)
			}
		}
		return hs
	case "registry", "redis", "database":
		if u, err := url.Parse(v); err == nil {
			return []string{u.Hostname()}
		}
	}
	return nil
}

// httpPort is the port of smaint's /metrics, /healthz and /readyz for a
// "run" with these flags and environment: --http, else SMAINT_HTTP, else
// the flag's default.
func (c *smaintCLI) httpPort(flags, env map[string]string) string {
	addr := c.defaults["http"]
	if v, ok := env["SMAINT_HTTP"]; ok {
		addr = v
	}
	if v, ok := flags["http"]; ok {
		addr = v
	}
	_, port, _ := net.SplitHostPort(addr)
	return port
}
