package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// schemasCmd is "smaint schemas register|print|list".
func schemasCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage:\n" +
		"  smaint schemas register --registry URL [flags]   register every subject, sensor.readings-value included, at " + schemas.Compatibility + "\n" +
		"  smaint schemas print NAME [--canonical]           print a record's schema (.avsc) for producers and consumers\n" +
		"  smaint schemas list                               list the records, their topics and fingerprints\n\n" +
		"NAME is a record (SensorReading, io.smaint.v1.SensorReading) or a topic (sensor.readings).\n"
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if args[0] == "-h" || args[0] == "--help" { // where -h puts every command's usage
		fmt.Fprint(stderr, usage)
		return nil
	}
	switch args[0] {
	case "register":
		return schemasRegister(ctx, args[1:], stdout, stderr)
	case "print":
		return schemasPrint(args[1:], stdout, stderr)
	case "list":
		return schemasList(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown schemas command %q\n\n%s", errUsage, args[0], usage)
}

func schemasRegister(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("schemas register", "Usage: smaint schemas register --registry URL [flags]\n\n"+
		"Registers the schema of every topic that holds records, the readings topic producers\n"+
		"write included, under the subjects --subject-strategy names, and sets each subject's\n"+
		"compatibility to "+schemas.Compatibility+": fields may be added or removed only with a default, so every\n"+
		"version reads every other and smaint keeps reading what producers write. smaint run\n"+
		"does the same at start when it has a registry. Prints one line a subject.\n", stderr)
	var kf kafkaFlags
	kf.register(fs)
	jsonOut := fs.Bool("json", false, "print the registrations as JSON")
	if err := fs.parse(args); err != nil {
		return err
	}
	if kf.cfg.Registry == "" {
		return fmt.Errorf("%w: --registry is required", errUsage)
	}
	if err := kf.cfg.ValidateRegistry(); err != nil { // the registry is all this needs
		return err
	}
	topics, err := kf.names.topics()
	if err != nil {
		return err
	}
	serde, err := kf.cfg.Serde()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	regs, err := pipeline.RegisterSubjects(ctx, serde, topics)
	if err != nil {
		return err
	}
	if *jsonOut {
		return json.NewEncoder(stdout).Encode(regs)
	}
	for _, r := range regs {
		fmt.Fprintf(stdout, "%-50s id %-4d version %-3d %s\n", r.Subject, r.ID, r.Version, r.Compatibility)
	}
	return nil
}

func schemasPrint(args []string, stdout, stderr io.Writer) error {
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	fs := newFlagSet("schemas print", "Usage: smaint schemas print NAME [--canonical]\n\n"+
		"Prints the schema of a record, by its name (SensorReading) or a topic's (sensor.readings),\n"+
		"as the .avsc file it is built from, or as its Parsing Canonical Form with the\n"+
		"fingerprint single-object encoding frames it with.\n", stderr)
	canonical := fs.Bool("canonical", false, "print the Parsing Canonical Form and the CRC-64-AVRO fingerprint instead")
	if err := fs.parse(args); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: which schema? (smaint schemas list shows them)", errUsage)
	}
	sc := findSchema(name)
	if sc == nil {
		return fmt.Errorf("%w: no record or topic %q (smaint schemas list shows them)", errUsage, name)
	}
	if *canonical {
		fmt.Fprintf(stdout, "%s\nfingerprint %#016x (single-object header c3 01 %s)\n", sc.CanonicalForm(), sc.Fingerprint(), leHex(sc.Fingerprint()))
		return nil
	}
	_, err := fmt.Fprintln(stdout, strings.TrimSpace(sc.Text()))
	return err
}

func schemasList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("schemas list", "Usage: smaint schemas list\n\nLists every record smaint reads or writes, the topics that hold it, and its fingerprint.\n", stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	topics := map[*schemas.Schema][]string{}
	for _, tr := range pipeline.DefaultTopics().Records() {
		topics[tr.Schema] = append(topics[tr.Schema], tr.Topic)
	}
	for _, sc := range schemas.All() {
		fmt.Fprintf(stdout, "%-30s %#016x  %s\n", sc.Name(), sc.Fingerprint(), strings.Join(topics[sc], ", "))
	}
	return nil
}

// findSchema returns the schema of a record named name (full or short,
// any case) or of the default topic name, or nil.
func findSchema(name string) *schemas.Schema {
	for _, sc := range schemas.All() {
		full := sc.Name()
		short := full[strings.LastIndexByte(full, '.')+1:]
		if strings.EqualFold(name, full) || strings.EqualFold(name, short) {
			return sc
		}
	}
	for _, tr := range pipeline.DefaultTopics().Records() {
		if tr.Topic == name {
			return tr.Schema
		}
	}
	return nil
}

// leHex is fp's bytes as single-object encoding writes them.
func leHex(fp uint64) string {
	var b strings.Builder
	for i := range 8 {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%02x", byte(fp>>(8*i)))
	}
	return b.String()
}
