// Command smaint is the predictive-maintenance stream processor: one
// binary for the pipeline stages, the plant simulator, the demo and the
// operator tools. Run "smaint help" for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/smaint/smaint/pipeline"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return append([]command{
		{"run", "run pipeline stages against a Kafka cluster", runCmd},
		{"simulate", "produce simulated plant readings to Kafka, with ground truth", simulateCmd},
		{"backtest", "run the analytics stages over a CSV of historical readings, without Kafka", backtestCmd},
		{"evaluate", "score backtest's output against labels (precision, recall, F1, false and missed alarms); --task rul, failure or forecast: models and forecasts", evaluateCmd},
		{"train", "train Isolation Forest models per sensor type from a CSV of historical readings; --task rul: remaining life; --labels: a failure classifier", trainCmd},
		{"models", "list, promote and roll back model versions in the model store", modelsCmd},
		{"maintenance", "record work done on an asset: a repair or replacement ends its remaining-life run", maintenanceCmd},
		{"retrain", "run the retrain worker: model.retrain requests train, judge and publish models (run --stages retrain)", retrainCmd},
		{"migrate", "create or update the database tables (TimescaleDB or plain PostgreSQL)", migrateCmd},
		{"export", "write stored rows to a CSV file, all or incrementally", exportCmd},
		{"reset", "move a stage's committed offsets to the start, the end or a time of its input", resetCmd},
		{"schemas", "register the record schemas in a schema registry, or print them for producers", schemasCmd},
		{"serve", "serve the HTTP API: readings in (JSON or Avro), sensors, alerts and health out, behind API keys", serveCmd},
		{"audit", "account for every reading through the topics and the database: lost, duplicated, counted twice", auditCmd},
	}, devCommands()...)
}

// errUsage marks errors in the command line: exit status 2.
var errUsage = errors.New("invalid command line")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage), errors.Is(err, pipeline.ErrConfig):
			fmt.Fprintf(stderr, "smaint %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "smaint %s: %v\n", c.name, err)
			return 1
		}
	}
	if slices.Contains(devCommandNames, args[0]) {
		fmt.Fprintf(stderr, "smaint: %s is not in this build: it was built for production (-tags prod), without the embedded services demo and bench need\n", args[0])
		return 2
	}
	fmt.Fprintf(stderr, "smaint: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "smaint: predictive-maintenance stream processor\n\nUsage: smaint <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun smaint <command> -h for a command's flags. Every flag can also be set by an\nenvironment variable: --foo-bar by SMAINT_FOO_BAR; --brokers also by KAFKA_BROKERS,\n--redis by REDIS_URL, --database-url by DATABASE_URL.")
}

// devCommandNames are the commands a production build leaves out (see
// devCommands).
var devCommandNames = []string{"bench", "demo"}
