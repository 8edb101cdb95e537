// Package truth holds the end-to-end tests of issue 7, "CloudFront's
// history is the shared truth": replicas on one queue, restarts under a
// budget, a backlog drained over many windows, and kill -9 under faults.
// Each runs the real worker binary (internal/e2e) against fauxqs behind the
// recording proxy and the CloudFront simulator, and measures what
// CloudFront billed. They live in a package of their own so that `go test
// ./...` runs them beside cmd/worker's: most of their time is windows and
// completions waited out, not CPU.
package truth

import (
	"testing"

	"github.com/acme/cf-invalidator/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
