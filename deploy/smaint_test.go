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
// (cmd/smaint: fs.alias). Each must name a flag of the real binary.
var envAliases = map[string]string{
	"KAFKA_BROKERS": "brokers",
	"REDIS_URL":     "redis",
	"DATABASE_URL":  "database-url",
	"POD_NAME":      "instance-id",
}

// longRunning are the subcommands that run until signalled; the others
// exit when done (a Deployment must not run those, a Job must).
var longRunning = []string{"run", "demo", "serve"}

// prodTags are the build tags of the production binary, the image's: it
// has no demo or bench (cmd/smaint/prod.go).
const prodTags = "prod"

// goRuntimeEnv are variables the Go runtime reads in any smaint container.
var goRuntimeEnv = []string{"GOMEMLIMIT", "GOMAXPROCS", "GOGC", "GODEBUG", "TZ"}

// awsEnv are variables the AWS SDK's default chain reads, for an s3://
// model store (--models).
var awsEnv = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_PROFILE",
	"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI"}

// smaintCLI is the command line of the real binary.
type smaintCLI struct {
	commands map[string]map[string]string // subcommand -> flag -> type (bool, int, string, ...)
	env      map[string]string            // SMAINT_FOO -> foo, and the aliases
	types    map[string]string            // flag -> type, over all subcommands
	defaults map[string]map[string]string // subcommand -> flag -> default shown in the usage
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
	stagesLine  = regexp.MustCompile(`(?m)^\s+stages to run: all(?: \([^)]*\))?, or a list of (.*?)(?: \(default .*\))?$`)
)

func readCLI() (*smaintCLI, error) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "smaint-deploy-test"); err != nil {
		return nil, err
	}
	bin := filepath.Join(tmpDir, "smaint")
	if out, err := exec.Command("go", "build", "-tags", prodTags, "-o", bin, "../cmd/smaint").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build -tags %s ../cmd/smaint: %v\n%s", prodTags, err, out)
	}
	help, err := exec.Command(bin, "help").Output()
	if err != nil {
		return nil, fmt.Errorf("smaint help: %v", err)
	}
	c := &smaintCLI{commands: map[string]map[string]string{}, env: map[string]string{}, types: map[string]string{}, defaults: map[string]map[string]string{}}
	for _, m := range commandLine.FindAllStringSubmatch(string(help), -1) {
		c.commands[m[1]] = map[string]string{}
	}
	for _, want := range []string{"run", "simulate", "migrate"} {
		if _, ok := c.commands[want]; !ok {
			return nil, fmt.Errorf("smaint help lists no %q command:\n%s", want, help)
		}
	}
	for name, flags := range c.commands {
		usage, err := usageOf(bin, name)
		if err != nil {
			return nil, err
		}
		// A command of subcommands (smaint schemas register, ...): their
		// flags are the command's.
		for _, m := range regexp.MustCompile(`(?m)^  smaint `+name+` ([a-z]+)`).FindAllStringSubmatch(usage, -1) {
			sub, err := usageOf(bin, name, m[1])
			if err != nil {
				return nil, err
			}
			usage += sub
		}
		c.defaults[name] = map[string]string{}
		for _, m := range flagLine.FindAllStringSubmatch(usage, -1) {
			typ := m[2]
			if typ == "" {
				typ = "bool" // the flag package prints no type for bool flags
			}
			d := defaultIn.FindStringSubmatch(m[3])
			if d != nil {
				c.defaults[name][m[1]] = d[1]
				// A custom flag ("value") whose default is a duration
				// or a number of days ("7d") takes those.
				if typ == "value" && d[1] != "0" && checkLongDuration(d[1]) == nil {
					typ = "longduration"
				}
			}
			flags[m[1]] = typ
			c.types[m[1]] = typ
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
		if c.types[flag] == "" {
			return nil, fmt.Errorf("%s is read as --%s, but no subcommand has that flag", env, flag)
		}
		c.env[env] = flag
	}
	return c, nil
}

// checkEnvName reports a variable set for a smaint container that smaint
// would not read (a typo, or a flag that does not exist).
func (c *smaintCLI) checkEnvName(name string) error {
	if _, ok := c.env[name]; ok || slices.Contains(goRuntimeEnv, name) || slices.Contains(awsEnv, name) {
		return nil
	}
	if strings.HasPrefix(name, "SMAINT_") {
		return fmt.Errorf("%s is the env twin of no smaint flag (--%s does not exist in %s)",
			name, strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "SMAINT_"), "_", "-")), strings.Join(slices.Sorted(maps.Keys(c.commands)), ", "))
	}
	return fmt.Errorf("%s is not read by smaint (want SMAINT_<FLAG>, %s, an AWS SDK variable, or a Go runtime variable)", name, strings.Join(slices.Sorted(maps.Keys(envAliases)), ", "))
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
	case "longduration":
		if err = checkLongDuration(v); err != nil {
			return fmt.Errorf("not a duration (90m, 12h) or a number of days (7d): %v", err)
		}
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
	case "database-url":
		return checkURL(v, "postgres", "postgresql")
	case "stages":
		if strings.TrimSpace(v) == "all" {
			return nil
		}
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); !slices.Contains(c.stages, s) {
				return fmt.Errorf("unknown stage %q (want all alone, or a list of %s)", s, strings.Join(c.stages, ", "))
			}
		}
	}
	return nil
}

// checkLongDuration accepts what smaint's day-aware duration flags do
// (--retention 180d, --compress-after 12h).
func checkLongDuration(v string) error {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err != nil || n < 0 {
			return fmt.Errorf("%q is not a number of days", days)
		}
		return nil
	}
	_, err := time.ParseDuration(v)
	return err
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
	case "registry", "redis", "database-url":
		if u, err := url.Parse(v); err == nil {
			return []string{u.Hostname()}
		}
	}
	return nil
}

// setting is the value smaint's subcommand sub would use for flag, as
// its flagSet.parse resolves it: the command line, else SMAINT_<FLAG>,
// else the flag's alias variable, else the usage's default. from names
// where it came from ("--flag", the variable, or "default"); ok is false
// when sub has no such flag or it is set nowhere.
func (c *smaintCLI) setting(sub, flag string, flags, env map[string]string) (value, from string, ok bool) {
	if _, has := c.commands[sub][flag]; !has {
		return "", "", false
	}
	if v, set := flags[flag]; set {
		return v, "--" + flag, true
	}
	names := []string{"SMAINT_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
	for alias, f := range envAliases {
		if f == flag {
			names = append(names, alias)
		}
	}
	for _, n := range names {
		if v, set := env[n]; set {
			return v, n, true
		}
	}
	v, ok := c.defaults[sub][flag]
	return v, "default", ok
}

// httpPort is the port of smaint's /metrics, /healthz and /readyz for a
// "run" with these flags and environment.
func (c *smaintCLI) httpPort(flags, env map[string]string) string {
	addr, _, _ := c.setting("run", "http", flags, env)
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// databaseURL is the --database-url a subcommand would use, and where it
// came from; "" when none is given (smaint then tries its default, a local
// server, which in a container is nothing).
func (c *smaintCLI) databaseURL(sub string, flags, env map[string]string) (url, from string) {
	v, from, ok := c.setting(sub, "database-url", flags, env)
	if !ok || from == "default" || v == "" {
		return "", ""
	}
	return v, from
}

// runStages is what "run" with these flags and environment runs: --stages
// expanded as smaint does, "all" being every stage but the sink unless a
// database URL is given.
func (c *smaintCLI) runStages(flags, env map[string]string) []string {
	v, _, _ := c.setting("run", "stages", flags, env)
	var out []string
	if strings.TrimSpace(v) == "all" {
		url, _ := c.databaseURL("run", flags, env)
		for _, st := range c.stages {
			if st != "sink" || url != "" {
				out = append(out, st)
			}
		}
		return out
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// needsDatabase reports whether sub, running these stages, fails or
// does nothing useful without a database URL.
func needsDatabase(sub string, stages []string) bool {
	switch sub {
	case "migrate", "export":
		return true
	case "run":
		return slices.Contains(stages, "sink")
	}
	return false
}

// secretEnv reports whether a variable holds a credential, and so
// belongs in a Secret: passwords, and the URLs that carry them.
func (c *smaintCLI) secretEnv(name string) bool {
	return strings.Contains(name, "PASSWORD") || slices.Contains([]string{"database-url", "redis", "webhook"}, c.env[name])
}

// usageOf is what "smaint <args> -h" writes to stderr.
func usageOf(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, append(args, "-h")...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("smaint %s -h: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stderr.String(), nil
}
