package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretsFromFiles: a secret flag reads from --<name>-file or
// SMAINT_<NAME>_FILE, never both with the flag, and errors never show the
// value.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "db")
	if err := os.WriteFile(file, []byte("postgres://u:hunter2@db/plant\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	parse := func(env map[string]string, args ...string) (string, error) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		fs := newFlagSet("test", "", io.Discard)
		var url string
		fs.StringVar(&url, "database-url", "", "")
		fs.secret("database-url")
		err := fs.parse(args)
		return url, err
	}
	const want = "postgres://u:hunter2@db/plant"
	if got, err := parse(nil, "--database-url-file", file); err != nil || got != want {
		t.Errorf("--database-url-file: %q, %v", got, err)
	}
	if got, err := parse(map[string]string{"SMAINT_DATABASE_URL_FILE": file}); err != nil || got != want {
		t.Errorf("SMAINT_DATABASE_URL_FILE: %q, %v", got, err)
	}
	if _, err := parse(nil, "--database-url", "postgres://x", "--database-url-file", file); err == nil || !strings.Contains(err.Error(), "both given") {
		t.Errorf("flag and file: %v", err)
	}
	if _, err := parse(map[string]string{"SMAINT_DATABASE_URL": "postgres://x"}, "--database-url-file", file); err == nil || !strings.Contains(err.Error(), "both given") {
		t.Errorf("environment and file: %v", err)
	}
	if _, err := parse(nil, "--database-url-file", filepath.Join(dir, "missing")); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("missing file: %v", err)
	}
}

// TestEverySecretHasAFile: the flags that carry passwords, tokens or URLs
// with credentials can all be given as files.
func TestEverySecretHasAFile(t *testing.T) {
	code, _, stderr := runCLI(t, t.Context(), "run", "-h")
	if code != 0 {
		t.Fatalf("run -h: exit %d", code)
	}
	for _, name := range []string{"database-url", "redis", "webhook", "smtp-password", "sasl-password", "registry-password", "http-token"} {
		if !strings.Contains(stderr, "-"+name+"-file") {
			t.Errorf("run has no --%s-file", name)
		}
	}
}
