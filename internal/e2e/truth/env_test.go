package truth

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// env is one test's fauxqs, its queue and dead-letter queue, the recording
// proxy in front of fauxqs (which the workers talk to) and the simulator.
type env struct {
	sq         *sqs.Client // straight to fauxqs: the producers' and the test's client
	queue, dlq string
	proxy      *e2e.SQSProxy
	sim        *e2e.Sim
}

func newEnv(t *testing.T, name string, maxReceive int, visibility time.Duration, po e2e.ProxyOptions, so cfsim.Options) *env {
	t.Helper()
	fq := testenv.Fauxqs(t)
	e := &env{sq: e2e.SQSClient(fq.Endpoint)}
	e.queue, e.dlq = e2e.CreateQueues(t, e.sq, name, maxReceive, visibility)
	e.proxy = e2e.NewSQSProxy(t, fq.Endpoint, po)
	e.sim = e2e.StartSim(t, so)
	return e
}

// start runs n replicas on the env's queue.
func (e *env) start(t *testing.T, n int, cfg e2e.Config) []*e2e.Worker {
	t.Helper()
	cfg.QueueURL, cfg.DLQURL = e.queue, e.dlq
	return e2e.StartWorkers(t, n, cfg, e.proxy.URL, e.sim.URL)
}

// finish waits up to within for every message of wants to be deleted,
// stops the workers, checks every delete from outside and that nothing was
// dead-lettered, and measures what was paid twice.
func (e *env) finish(t *testing.T, ws []*e2e.Worker, wants e2e.Wants, within time.Duration) (e2e.Record, []e2e.Invalidation, e2e.Billing) {
	t.Helper()
	rec := e.proxy.WaitDeleted(wants, within)
	for _, w := range ws {
		w.Stop(t, 20*time.Second)
	}
	invs := e.sim.Accepted()
	e2e.CheckDeletesJustified(t, rec, wants, invs)
	e2e.NoMoreDLQ(t, e.sq, e.dlq)
	return rec, invs, e2e.Rebilled(wants, rec.Sent, invs)
}

// billed is every item of every invalidation the simulator accepted: what
// AWS bills.
func billed(invs []e2e.Invalidation) int {
	n := 0
	for _, inv := range invs {
		n += len(inv.Items)
	}
	return n
}

// ints reads a comma-separated list of counts from the environment
// variable name, def when unset.
func ints(t *testing.T, name, def string) []int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a comma-separated list of positive counts", name, v)
		}
		out = append(out, n)
	}
	return out
}

// duration reads a duration from the environment variable name, def when
// unset.
func duration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// pct formats part of whole as a percentage.
func pct(part, whole int) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(part)/float64(whole))
}
