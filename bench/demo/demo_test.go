package demo_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/smaint/smaint/bench/demo"
)

func TestOpenStorageChoice(t *testing.T) {
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	got, err := demo.OpenStorage(ctx, "", true, log)
	if err != nil || got.Enabled || got.Why != "--no-database" {
		t.Fatalf("off: %+v, %v", got, err)
	}
	// A URL given must answer: the user asked for that database.
	if _, err := demo.OpenStorage(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=1", false, log); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("a database URL that does not answer: %v", err)
	}
}
