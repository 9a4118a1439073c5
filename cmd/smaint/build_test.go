package main

import (
	"os/exec"
	"strings"
	"testing"
)

// devOnly are the packages a production binary must not carry: the
// embedded services and the plotting of demo and bench.
var devOnly = []string{
	"github.com/twmb/franz-go/pkg/kfake",
	"github.com/twmb/franz-go/pkg/sr/srfake",
	"github.com/alicebob/miniredis/v2",
	"gonum.org/v1/plot",
}

// TestProductionBuildLeavesOutDevTools: "go build -tags prod" (the
// Dockerfile's) links none of devOnly; the default build, which has demo
// and bench, links them all (so the check can fail).
func TestProductionBuildLeavesOutDevTools(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	deps := func(tags ...string) string {
		out, err := exec.Command("go", append(append([]string{"list", "-deps"}, tags...), ".")...).Output()
		if err != nil {
			t.Fatalf("go list -deps %v: %v", tags, err)
		}
		return string(out)
	}
	prod, dev := deps("-tags", "prod"), deps()
	for _, pkg := range devOnly {
		if strings.Contains(prod, pkg+"\n") || strings.Contains(prod, pkg+"/") {
			t.Errorf("the production build links %s", pkg)
		}
		if !strings.Contains(dev, pkg) {
			t.Errorf("the default build does not link %s: is this check still about anything?", pkg)
		}
	}
	for _, pkg := range []string{"github.com/jackc/pgx/v5", "github.com/redis/go-redis/v9", "github.com/twmb/franz-go/pkg/kgo"} {
		if !strings.Contains(prod, pkg) {
			t.Errorf("the production build lacks %s", pkg)
		}
	}
}
