package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// WorkerPackage is the import path of the worker's main package.
const WorkerPackage = "github.com/acme/cf-invalidator/cmd/worker"

// workerBin is the binary Main built for this test package.
var workerBin string

// Main builds the worker binary once for the test package (with -race when
// the tests run with it), runs the tests and exits with their status. Call
// it from TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "worker-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: mkdtemp:", err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, "worker")
	args := []string{"build", "-o", bin}
	if RaceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, WorkerPackage)...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build %s: %v\n%s", WorkerPackage, err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	workerBin = bin
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// WorkerBin is the path of the binary [Main] built. It panics when Main did
// not run: the test package's TestMain must call it.
func WorkerBin() string {
	if workerBin == "" {
		panic("e2e: the worker binary was not built; call e2e.Main(m) from TestMain")
	}
	return workerBin
}
