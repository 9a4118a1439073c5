package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// flagSet is a flag.FlagSet whose flags fall back to environment
// variables: --foo-bar to SMAINT_FOO_BAR, and to the extra names given
// with alias (KAFKA_BROKERS for --brokers, say).
type flagSet struct {
	*flag.FlagSet
	aliases map[string][]string
}

// newFlagSet returns the flags of command name; -h prints header, then
// the flags.
func newFlagSet(name, header string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet("smaint "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\nFlags:\n", header)
		fs.PrintDefaults()
	}
	return &flagSet{FlagSet: fs, aliases: map[string][]string{}}
}

// alias makes env a further fallback for the flag name.
func (f *flagSet) alias(name string, env ...string) {
	f.aliases[name] = append(f.aliases[name], env...)
}

// envName is the SMAINT_ twin of a flag.
func envName(flagName string) string {
	return "SMAINT_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse parses args, then fills every flag not on the command line from
// its environment twin. Errors wrap errUsage and name their source.
func (f *flagSet) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, f.Arg(0))
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var err error
	f.VisitAll(func(fl *flag.Flag) {
		if set[fl.Name] || err != nil {
			return
		}
		for _, env := range append([]string{envName(fl.Name)}, f.aliases[fl.Name]...) {
			if v, ok := os.LookupEnv(env); ok {
				if e := f.Set(fl.Name, v); e != nil {
					err = fmt.Errorf("%w: %s=%q: %v", errUsage, env, v, e)
				}
				return
			}
		}
	})
	return err
}

// positiveDuration rejects zero and negative durations when required.
func positiveDuration(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: --%s must be positive, got %v", errUsage, name, d)
	}
	return nil
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

// setDefault changes a registered flag's default (for -h too) without
// marking it as set, so its environment twin still applies.
func setDefault(fs *flagSet, name, value string) {
	f := fs.Lookup(name)
	if err := f.Value.Set(value); err != nil {
		panic(err)
	}
	f.DefValue = value
}
