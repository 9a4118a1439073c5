package pipelinetest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Python returns a Python 3 interpreter that imports every module of
// modules (Debian's, /usr/bin/python3, first: its packages are the
// third-party clients the interoperability tests use). Without one the
// test is skipped, unless SMAINT_REQUIRE_SERVICES is set (as make test and
// CI do, after .ci/services has installed them), when it fails.
func Python(t testing.TB, modules ...string) string {
	t.Helper()
	imp := "import " + strings.Join(modules, ", ")
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(py); err == nil && exec.Command(path, "-c", imp).Run() == nil {
			return path
		}
	}
	if Required() {
		t.Fatalf("no python3 that can %q (make services installs python3-confluent-kafka and python3-avro)", imp)
	}
	t.Skipf("no python3 that can %q; make services installs it", imp)
	return ""
}

// Required reports whether the services and tools the tests use must be
// there (SMAINT_REQUIRE_SERVICES, as make test and CI set): a test then
// fails without them instead of skipping.
func Required() bool { return os.Getenv("SMAINT_REQUIRE_SERVICES") != "" }
