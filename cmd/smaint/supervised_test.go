package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/smaint/smaint/stages/predict"
)

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Remaining useful life through the commands: train on run-to-failure
// history, store, evaluate on units cut short, against their truth.
func TestTrainAndEvaluateRUL(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 5))
	var train, test, truth strings.Builder
	train.WriteString("unit,cycle,wear,noise\n")
	test.WriteString("unit,cycle,wear,noise\n")
	truth.WriteString("unit,rul\n")
	for u := range 50 {
		life := 100 + rng.IntN(100)
		end := life
		b := &train
		if u >= 40 {
			end, b = life-5-rng.IntN(60), &test
			fmt.Fprintf(&truth, "u%d,%d\n", u, life-end)
		}
		for c := 1; c <= end; c++ {
			fmt.Fprintf(b, "u%d,%d,%.4f,%.4f\n", u, c, 1+2*math.Exp(float64(c-life)/30)+0.02*rng.NormFloat64(), rng.NormFloat64())
		}
	}
	models := "file://" + filepath.Join(dir, "models")
	code, out, errOut := runCLI(t, context.Background(), "train", "--task", "rul", "--csv", writeFile(t, dir, "train.csv", train.String()),
		"--models", models, "--version", "v1", "--trees", "100")
	if code != 0 || !strings.Contains(out, "gbdt-rul version v1: remaining useful life from 40 runs, 2 channels used of 2") {
		t.Fatalf("train: exit %d\n%s%s", code, out, errOut)
	}
	// models list checks it as the stage that loads it would.
	if code, out, errOut := runCLI(t, context.Background(), "models", "list", "--models", models); code != 0 || !strings.Contains(out, "from a file (gbdt-rul): runs 40  ok, live\n") {
		t.Fatalf("models list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, context.Background(), "evaluate", "--task", "rul", "--csv", writeFile(t, dir, "test.csv", test.String()),
		"--truth", writeFile(t, dir, "truth.csv", truth.String()), "--models", models, "--json", "--out", filepath.Join(dir, "pred.csv"))
	if code != 0 {
		t.Fatalf("evaluate: exit %d\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var s predict.RULScore
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil || s.Units != 10 || s.RMSE > 15 {
		t.Fatalf("%+v %v\n%s", s, err, out)
	}
	// Each prediction, with what drove it: the wearing channel.
	pred, err := readTable(filepath.Join(dir, "pred.csv"))
	if err != nil || len(pred.Rows) != 10 || !strings.HasPrefix(pred.Rows[0][5], "wear:") {
		t.Fatalf("predictions file: %v %+v", err, pred)
	}
	for _, r := range pred.Rows {
		var p, lo, hi float64
		fmt.Sscan(r[1], &p)
		fmt.Sscan(r[2], &lo)
		fmt.Sscan(r[3], &hi)
		if !(lo <= p && p <= hi && hi < 125) {
			t.Errorf("unit %s: %v outside its interval %v..%v, or the interval stuck at the cap", r[0], p, lo, hi)
		}
	}
	// Bad input says what is wrong.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--task", "lifetime", "--csv", "x", "--models", models}, `--task "lifetime"`},
		{[]string{"train", "--task", "rul", "--csv", writeFile(t, dir, "back.csv", "unit,cycle,v\na,2,1\na,1,1\n"), "--models", models}, "unit a goes back in time"},
		{[]string{"train", "--task", "rul", "--csv", writeFile(t, dir, "nounit.csv", "engine,cycle,v\na,1,1\n"), "--models", models}, "set --unit-col"},
		{[]string{"evaluate", "--task", "rul", "--csv", filepath.Join(dir, "test.csv"), "--models", models}, "--truth is required"},
		{[]string{"evaluate", "--task", "failure", "--csv", filepath.Join(dir, "test.csv"), "--models", models, "--name", "gbdt-rul"}, "is not a failure classifier"},
		// C-MAPSS as it ships: space-separated, with no header line.
		{[]string{"train", "--task", "rul", "--csv", writeFile(t, dir, "raw.txt", "1 1 -0.0007 518.67\n1 2 0.0019 518.67\n"), "--models", models}, "the file has one column: smaint reads files separated by commas, semicolons or tabs"},
		{[]string{"train", "--task", "rul", "--csv", writeFile(t, dir, "nohead.csv", "1,1,0.5\n1,2,0.6\n"), "--models", models}, "holds numbers: give the file a header line"},
		{[]string{"evaluate", "--task", "rul", "--csv", filepath.Join(dir, "test.csv"), "--truth", writeFile(t, dir, "rawtruth.csv", "112\n98\n69\n"), "--models", models}, `no column "unit" or "rul" (have 112)`},
		{[]string{"evaluate", "--task", "rul", "--csv", filepath.Join(dir, "test.csv"), "--truth", filepath.Join(dir, "truth.csv"), "--models", "file://" + filepath.Join(dir, "empty")}, "train one first (smaint train --task rul --csv"},
		{[]string{"evaluate", "--task", "failure", "--csv", filepath.Join(dir, "test.csv"), "--models", models, "--name", "pumps"}, "train one first (smaint train --labels COL[,COL...] --name pumps --csv"},
		// A number column with a typo is an error, not a column left out.
		{[]string{"train", "--task", "rul", "--csv", writeFile(t, dir, "typo.csv", "unit,cycle,a,b\nu,1,1,2\nu,2,1,x2\nu,3,1,2\n"), "--models", models}, `row 2: b "x2" is not a number, as the column's other values are`},
		{[]string{"train", "--task", "rul", "--csv", writeFile(t, dir, "numname.csv", "engine,cycle,1,2\na,1,0.5,0.5\n"), "--models", models}, "(have engine, cycle, 1, 2): set --unit-col and --time-col\n"},
	} {
		if code, _, errOut := runCLI(t, context.Background(), tc.args...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
}

func TestTrainAFailureClassifier(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(6, 6))
	var b strings.Builder
	b.WriteString("UDI;Type;load;speed;Machine failure\n")
	for i := range 3000 {
		load, speed := 1+9*rng.Float64(), 1+9*rng.Float64()
		failed := 0
		if load*speed > 60 {
			failed = 1
		}
		fmt.Fprintf(&b, "%d;%s;%.3f;%.3f;%d\n", i, []string{"L", "M", "H"}[rng.IntN(3)], load, speed, failed)
	}
	path := writeFile(t, dir, "rows.csv", b.String())
	models := "file://" + filepath.Join(dir, "models")
	code, out, errOut := runCLI(t, context.Background(), "train", "--labels", "Machine failure", "--csv", path, "--models", models, "--trees", "100")
	if code != 0 || !strings.Contains(out, "1 labels from 3 inputs, trained on 2100 rows") || !strings.Contains(out, "held out 900 rows (30%, seed 1)") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, context.Background(), "models", "list", "--models", models); code != 0 || !strings.Contains(out, "from a file (gbdt-failure): f1:Machine failure ") || !strings.HasSuffix(out, "  ok, live\n") {
		t.Fatalf("models list: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, context.Background(), "evaluate", "--task", "failure", "--csv", path, "--models", models, "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var scores []predict.ClassScore
	if code != 0 || json.Unmarshal([]byte(lines[len(lines)-1]), &scores) != nil || len(scores) != 1 || scores[0].F1 < 0.9 {
		t.Fatalf("exit %d, %+v\n%s%s", code, scores, out, errOut)
	}
	// A typo in a number column is an error naming its row, not a column
	// of categories.
	rows := strings.Split(b.String(), "\n")
	f := strings.Split(rows[8], ";")
	f[2] = "abc"
	rows[8] = strings.Join(f, ";")
	typo := writeFile(t, dir, "typo.csv", strings.Join(rows, "\n"))
	if code, _, errOut := runCLI(t, context.Background(), "train", "--labels", "Machine failure", "--csv", typo, "--models", models); code == 0 || !strings.Contains(errOut, `row 8: load is "abc", not a number as the column's other values are`) {
		t.Errorf("a typo in a number column: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, context.Background(), "train", "--labels", "broken", "--csv", path, "--models", models); code == 0 || !strings.Contains(errOut, `no column "broken"`) || strings.Contains(errOut, "header line") {
		t.Errorf("a label that is no column: exit %d, %q", code, errOut)
	}
	// The rows without their header line: the first row is read as one.
	headless := writeFile(t, dir, "headless.csv", b.String()[strings.Index(b.String(), "\n")+1:])
	for _, args := range [][]string{
		{"train", "--labels", "Machine failure", "--csv", headless, "--models", models},
		{"evaluate", "--task", "failure", "--csv", headless, "--models", models},
	} {
		if code, _, errOut := runCLI(t, context.Background(), args...); code == 0 || !strings.Contains(errOut, "holds numbers: give the file a header line") {
			t.Errorf("%v on a file without a header: exit %d, %q", args[0], code, errOut)
		}
	}
}

// --task decides wherever it stands; without it, train's --labels asks for
// the classifier and evaluate's --forecasts for forecasts.
func TestSupervisedTask(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		training bool
		want     string
	}{
		{[]string{"--csv", "x"}, true, ""},
		{[]string{"--task", "rul", "--csv", "x"}, true, "rul"},
		{[]string{"--csv", "x", "--task=rul"}, false, "rul"},
		{[]string{"--labels", "y", "--csv", "x"}, true, "failure"},
		{[]string{"--labels", "y", "--csv", "x"}, false, ""}, // evaluate's labelled files
		{[]string{"--labels", "y", "--task", "rul"}, true, "rul"},
		{[]string{"--forecasts", "f"}, false, "forecast"},
		{[]string{"--forecasts", "f", "--task", "rul"}, false, "rul"},
		{[]string{"--forecasts", "f", "--labels", "y"}, true, "failure"},
		{[]string{"--labels", "y", "--forecasts", "f"}, true, "failure"},
	} {
		if got := supervisedTask(tc.args, tc.training); got != tc.want {
			t.Errorf("%q (training %v): %q, want %q", tc.args, tc.training, got, tc.want)
		}
	}
	if got := withoutTask([]string{"--task", "anomaly", "--labels", "a", "-task=anomaly", "--by", "window"}); !slices.Equal(got, []string{"--labels", "a", "--by", "window"}) {
		t.Errorf("withoutTask: %q", got)
	}
	// evaluate names the tasks for one it does not know; --task anomaly is
	// the default's name.
	if code, _, errOut := runCLI(t, context.Background(), "evaluate", "--task", "failures"); code != 2 || !strings.Contains(errOut, `--task "failures" (want anomaly, the default, forecast, rul or failure)`) {
		t.Errorf("evaluate --task failures: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, context.Background(), "evaluate", "--labels", "x", "--task"); code != 2 || !strings.Contains(errOut, "--task needs a value: anomaly (the default), forecast, rul or failure") {
		t.Errorf("evaluate with a bare --task: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, context.Background(), "evaluate", "--task", "anomaly"); code != 2 || !strings.Contains(errOut, "0 labelled files") {
		t.Errorf("evaluate --task anomaly: exit %d, %q", code, errOut)
	}
}

// A 0/1 column that is 1 only where a label is set is a failure mode,
// not an input: train warns of it when it picks the inputs itself.
func TestTrainWarnsOfLabelsAmongTheInputs(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	b.WriteString("load,flag,mode,failure\n")
	for range 400 {
		load, flag := rng.Float64()*10, rng.IntN(2)
		failure, mode := 0, 0
		if load > 8 {
			failure, mode = 1, rng.IntN(2)
		}
		fmt.Fprintf(&b, "%.3f,%d,%d,%d\n", load, flag, mode, failure)
	}
	path := writeFile(t, dir, "rows.csv", b.String())
	models := "file://" + filepath.Join(dir, "models")
	code, _, errOut := runCLI(t, context.Background(), "train", "--labels", "failure", "--csv", path, "--models", models, "--trees", "20")
	if code != 0 || !strings.Contains(errOut, "warning: mode holds 1 only where a label is non-zero") || strings.Contains(errOut, "flag") {
		t.Fatalf("exit %d, %q: want a warning of mode alone", code, errOut)
	}
	code, _, errOut = runCLI(t, context.Background(), "train", "--labels", "failure", "--inputs", "load,mode", "--csv", path, "--models", models, "--trees", "20")
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("inputs chosen: exit %d, %q; want no warning", code, errOut)
	}
}
