package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/smaint/smaint/stages/features"
)

// flagSet is a flag.FlagSet whose flags fall back to environment
// variables: --foo-bar to SMAINT_FOO_BAR, and to the extra names given
// with alias (KAFKA_BROKERS for --brokers, say).
type flagSet struct {
	*flag.FlagSet
	aliases map[string][]string
	secrets []string // flags that also read from --<name>-file
}

// newFlagSet returns the flags of command name; -h prints header, then
// the flags.
func newFlagSet(name, header string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet("smaint "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\nFlags:\n", header)
		fs.PrintDefaults()
	}
	return &flagSet{FlagSet: fs, aliases: map[string][]string{}}
}

// alias makes env a further fallback for the flag name.
func (f *flagSet) alias(name string, env ...string) {
	f.aliases[name] = append(f.aliases[name], env...)
}

// secret makes the flag name a secret: it can also be read from a file,
// named by --<name>-file or SMAINT_<NAME>_FILE (a mounted Kubernetes or
// Docker secret), which keeps it out of ps and of the environment.
func (f *flagSet) secret(name string) {
	f.secrets = append(f.secrets, name)
	f.String(name+"-file", "", "read --"+name+" from this file (trailing newline dropped); prefer it, or the environment, to the flag, which ps shows")
}

// envName is the SMAINT_ twin of a flag.
func envName(flagName string) string {
	return "SMAINT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse parses args, then fills every flag not on the command line from
// its environment twin. Errors wrap errUsage and name their source.
//
// -h prints the usage; a mistake prints only what is wrong (the caller
// reports the error), not the usage after it.
func (f *flagSet) parse(args []string) error {
	out := f.Output()
	f.SetOutput(io.Discard)
	err := f.Parse(args)
	f.SetOutput(out)
	if err != nil {
		if err == flag.ErrHelp {
			f.Usage()
			return err
		}
		var value, name string
		if _, e := fmt.Sscanf(err.Error(), "invalid value %q for flag -%s", &value, &name); e == nil {
			name = strings.TrimSuffix(name, ":")
			prefix := fmt.Sprintf("invalid value %q for flag -%s: ", value, name)
			if cause, ok := strings.CutPrefix(err.Error(), prefix); ok {
				err = fmt.Errorf("%s%v", prefix, f.explain(name, value, errors.New(cause)))
			}
		}
		return fmt.Errorf("%w: %v (smaint %s -h lists the flags)", errUsage, err, strings.TrimPrefix(f.Name(), "smaint "))
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, f.Arg(0))
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	err = nil
	f.VisitAll(func(fl *flag.Flag) {
		if set[fl.Name] || err != nil {
			return
		}
		for _, env := range append([]string{envName(fl.Name)}, f.aliases[fl.Name]...) {
			if v, ok := os.LookupEnv(env); ok {
				if e := f.Set(fl.Name, v); e != nil {
					err = fmt.Errorf("%w: %s=%q: %v", errUsage, env, v, f.explain(fl.Name, v, e))
				}
				set[fl.Name] = true
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return f.readSecrets(set)
}

// readSecrets sets each secret flag whose file was named from that file.
// Errors never show a secret's value.
func (f *flagSet) readSecrets(set map[string]bool) error {
	for _, name := range f.secrets {
		file := f.Lookup(name + "-file").Value.String()
		if file == "" {
			continue
		}
		if set[name] {
			return fmt.Errorf("%w: --%s and --%s-file both given: give one", errUsage, name, name)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%w: --%s-file: %v", errUsage, name, err)
		}
		if err := f.Set(name, strings.TrimRight(string(b), "\r\n")); err != nil {
			return fmt.Errorf("%w: --%s-file %s: the value it holds is invalid", errUsage, name, file)
		}
	}
	return nil
}

// setDefault changes a registered flag's default (for -h too) without
// marking it as set, so its environment twin still applies.
func (f *flagSet) setDefault(name, value string) {
	fl := f.Lookup(name)
	if err := fl.Value.Set(value); err != nil {
		panic(err)
	}
	fl.DefValue = value
}

// firstErr returns the first of errs that is not nil.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// positiveDuration rejects zero and negative durations.
func positiveDuration(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: --%s must be positive, got %v", errUsage, name, d)
	}
	return nil
}

// explain turns the flag package's "parse error" of a number or duration
// flag into what is wrong with value; other errors pass as they are.
func (f *flagSet) explain(name, value string, err error) error {
	fl := f.Lookup(name)
	if fl == nil || err == nil {
		return err
	}
	g, ok := fl.Value.(flag.Getter)
	if !ok || !strings.HasSuffix(err.Error(), "parse error") {
		return err
	}
	switch g.Get().(type) {
	case time.Duration:
		if _, perr := time.ParseDuration(value); perr != nil {
			return fmt.Errorf("%v: give a number and its unit, e.g. 30s, 5m or 2h", perr)
		}
	case float64:
		return errors.New("not a number")
	case int, int64:
		return errors.New("not a whole number")
	case uint, uint64:
		return errors.New("not a whole number of 0 or more")
	}
	return err
}

// listFlag is a comma-separated list flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// funcValue is a flag.Value made of the functions that show and set it.
type funcValue struct {
	show func() string
	set  func(string) error
}

func (v funcValue) String() string {
	if v.show == nil { // the flag package asks a zero value
		return ""
	}
	return v.show()
}

func (v funcValue) Set(s string) error { return v.set(s) }

// latenessOf is the features stage's Lateness for a --lateness given as
// d: a zero there means none, to the stage the default.
func latenessOf(d time.Duration) time.Duration {
	if d == 0 {
		return features.NoLateness
	}
	return d
}

// longDuration is a duration flag that also takes days ("180d").
type longDuration struct{ d *time.Duration }

func (l longDuration) String() string {
	if l.d == nil {
		return ""
	}
	if *l.d%(24*time.Hour) == 0 && *l.d > 0 {
		return strconv.FormatInt(int64(*l.d/(24*time.Hour)), 10) + "d"
	}
	return l.d.String()
}

func (l longDuration) Set(s string) error {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%q is not a number of days", s)
		}
		*l.d = time.Duration(n * float64(24*time.Hour))
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 90m, 12h, 7d)", s)
	}
	*l.d = d
	return nil
}

// timeFlag is a time given as RFC 3339 or as a date (midnight UTC).
type timeFlag struct{ t *time.Time }

func (f timeFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f timeFlag) Set(s string) error {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			*f.t = t
			return nil
		}
	}
	return fmt.Errorf("%q: want RFC 3339 (2026-11-25T08:00:00Z) or a date (2026-11-25)", s)
}
