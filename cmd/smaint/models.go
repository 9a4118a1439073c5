package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/smaint/smaint/sinks/s3store"
	"github.com/smaint/smaint/stages/score"
)

// openModelStore opens a --models URI: file:///DIR, or s3://BUCKET[/PREFIX]
// with region, endpoint and path_style parameters.
func openModelStore(ctx context.Context, uri string) (score.ModelStore, error) {
	if strings.HasPrefix(uri, "s3://") {
		return s3store.Open(ctx, uri)
	}
	return score.OpenModelStore(uri)
}

const modelsFlagHelp = "model store: file:///DIR, or s3://BUCKET[/PREFIX][?region=R&endpoint=URL&path_style=true] (credentials from the AWS environment, e.g. AWS_ACCESS_KEY_ID)"

func modelsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "Usage:\n" +
		"  smaint models list --models URI [--model NAME] [--json]   list the store's models and versions\n\n" +
		"Each version is shown with its manifest and whether its artifact passes the\n" +
		"checks a load makes (checksum, format, stored where its manifest says).\n"
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if args[0] == "-h" || args[0] == "--help" { // where -h puts every command's usage
		fmt.Fprint(stderr, usage)
		return nil
	}
	if args[0] != "list" {
		return fmt.Errorf("%w: unknown models command %q\n\n%s", errUsage, args[0], usage)
	}
	fs := newFlagSet("models list", "Usage: smaint models list --models URI [--model NAME] [--json]\n", stderr)
	var (
		uri, only string
		jsonOut   bool
	)
	fs.StringVar(&uri, "models", "", modelsFlagHelp)
	fs.StringVar(&only, "model", "", "list this model only")
	fs.BoolVar(&jsonOut, "json", false, "print one JSON object per version")
	if err := fs.parse(args[1:]); err != nil {
		return err
	}
	if uri == "" {
		return fmt.Errorf("%w: --models is required", errUsage)
	}
	st, err := openModelStore(ctx, uri)
	if err != nil {
		return fmt.Errorf("%w: --models: %v", errUsage, err)
	}
	names := []string{only}
	if only == "" {
		if names, err = st.Models(ctx); err != nil {
			return err
		}
	}
	type row struct {
		score.Manifest
		URI     string `json:"uri"`
		Problem string `json:"problem,omitempty"`
	}
	enc := json.NewEncoder(stdout)
	for _, name := range names {
		vs, err := st.Versions(ctx, name)
		if errors.Is(err, score.ErrNoModel) {
			continue
		}
		if err != nil {
			return err
		}
		for _, v := range vs {
			r := row{URI: v.URI}
			_, man, err := score.LoadVersion(ctx, st, name, v)
			r.Manifest = man
			r.Name, r.Version = name, v.Version // where it is stored
			if err != nil {
				r.Problem = err.Error()
			}
			if jsonOut {
				if err := enc.Encode(r); err != nil {
					return err
				}
				continue
			}
			status := "ok"
			if r.Problem != "" {
				status = "REFUSED: " + r.Problem
			}
			fmt.Fprintf(stdout, "%-22s %-18s created %s  trained %s..%s  windows %g  %s\n", r.Name, r.Version,
				r.CreatedAt.Format("2006-01-02T15:04Z"), r.TrainedFrom.Format("2006-01-02T15:04Z"), r.TrainedTo.Format("2006-01-02T15:04Z"), r.Metrics["windows"], status)
		}
	}
	return nil
}
