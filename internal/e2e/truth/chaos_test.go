package truth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
)

// Issue 7's chaos: two replicas, one of them killed with SIGKILL at random
// moments and started again, while SQS answers 10 % of the workers'
// requests with a 500 and CloudFront 10 % with a 503, and messages keep
// arriving at 20 a second (TRUTH_CHAOS_DURATION, default 40 s).
const (
	chaosDist       = "ECHAOSKILL0001"
	chaosRate       = 20 // messages per second
	chaosSQSErrors  = 0.10
	chaosCFErrors   = 0.10
	chaosReplicas   = 2
	chaosShared     = 40 // shared pages, two per message
	chaosMaxRebill  = 0.02
	chaosVisibility = 10 * time.Second
	chaosWindow     = 4 * time.Second
)

// TestKillNineUnderFaults: nothing is lost (every message is deleted in
// the end), no delete is unjustified, and at most 2 % of the billed items
// are re-billed — paid again although every message wanting them was sent
// before an earlier accepted invalidation that covers them.
func TestKillNineUnderFaults(t *testing.T) {
	duration := duration(t, "TRUTH_CHAOS_DURATION", 40*time.Second)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 7))
	e := newEnv(t, "chaos", 1000, chaosVisibility,
		e2e.ProxyOptions{ErrorRate: chaosSQSErrors, Rand: rand.New(rand.NewPCG(seed, 1))},
		cfsim.Options{Distributions: []string{chaosDist}, CompleteAfter: 2 * time.Second, ErrorRate: chaosCFErrors,
			Rand: rand.New(rand.NewPCG(seed, 2))})
	// Window 4 s: the default flush_jitter (1 s) applies in full (it is at
	// most window/4), so replicas whose messages come due together spread
	// their flushes; with a 1 s window (jitter 250 ms) they collide more
	// often and 5 % of the shared pages are paid twice.
	cfg := e2e.Config{Window: chaosWindow.String(), Visibility: chaosVisibility.String(), Grace: "5s", MaxBackoff: "2s",
		Distributions: []e2e.Dist{{ID: chaosDist}}}
	ws := e.start(t, chaosReplicas, cfg)

	// The producer: an open loop, straight to fauxqs (the faults are the
	// workers'), one unique page and two shared ones per message.
	var mu sync.Mutex
	wants := e2e.Wants{}
	var sendErrs []error
	ctx, stop := context.WithTimeout(context.Background(), duration)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		prnd := rand.New(rand.NewPCG(seed, 3))
		start := time.Now()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(start.Add(time.Duration(i) * time.Second / chaosRate))):
			}
			ps := []string{fmt.Sprintf("/chaos/page-%05d.html", i),
				fmt.Sprintf("/shared/s%02d.html", prnd.IntN(chaosShared)), fmt.Sprintf("/shared/s%02d.html", prnd.IntN(chaosShared))}
			if ps[1] == ps[2] {
				ps = ps[:2]
			}
			out, err := e.sq.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(e.queue),
				MessageBody: aws.String(e2e.V1(false, chaosDist, ps...))})
			mu.Lock()
			if err != nil {
				sendErrs = append(sendErrs, err)
			} else {
				wants[aws.ToString(out.MessageId)] = e2e.Want{Dist: chaosDist, Items: ps}
			}
			mu.Unlock()
		}
	}()

	// The killer: every 2–6 s one replica dies without a word and a new one
	// takes its place.
	kills := 0
	for {
		pause := 2*time.Second + time.Duration(rnd.Int64N(int64(4*time.Second)))
		select {
		case <-done:
		case <-time.After(pause):
		}
		if ctx.Err() != nil {
			break
		}
		i := rnd.IntN(len(ws))
		if err := syscall.Kill(-ws[i].Cmd.Process.Pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %s: %v", ws[i].Name, err)
		}
		ws[i].Wait(10 * time.Second)
		kills++
		ws[i] = e.start(t, 1, cfg)[0]
	}
	<-done
	mu.Lock()
	if len(sendErrs) > 0 {
		t.Fatalf("the producer's SendMessage failed %d times, first: %v", len(sendErrs), sendErrs[0])
	}
	all := wants
	mu.Unlock()

	// Nothing lost: every message is deleted in the end (a killed
	// process's are back after the visibility timeout).
	rec, invs, bl := e.finish(t, ws, all, chaosVisibility+chaosWindow+60*time.Second)
	if float64(bl.Rebilled) > chaosMaxRebill*float64(bl.Billed) {
		t.Errorf("%d of %d billed items re-billed (%s), want at most %.0f%%; e.g. %q", bl.Rebilled, bl.Billed, pct(bl.Rebilled, bl.Billed), 100*chaosMaxRebill, bl.Examples)
	}
	redelivered := 0
	for _, n := range rec.ReceivedBy {
		if n > 1 {
			redelivered++
		}
	}
	faults := 0
	for _, n := range rec.Faults {
		faults += n
	}
	cfFaults := 0
	for _, byOutcome := range e.sim.Stats().Requests {
		cfFaults += byOutcome["ServiceUnavailable"]
	}
	if kills == 0 || faults == 0 || cfFaults == 0 {
		t.Errorf("the chaos did not happen: %d kills, %d SQS faults, %d CloudFront faults", kills, faults, cfFaults)
	}
	t.Logf("chaos for %s at %d msg/s: %d messages, %d kills, %d SQS 500s %v, %d CloudFront 503s; %d messages delivered more than once; billed %d items in %d invalidations, re-billed %d (%s) %q",
		duration, chaosRate, len(all), kills, faults, rec.Faults, cfFaults, redelivered, bl.Billed, len(invs), bl.Rebilled, pct(bl.Rebilled, bl.Billed), bl.Examples)
}
