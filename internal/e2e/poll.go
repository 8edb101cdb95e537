package e2e

import (
	"testing"
	"time"
)

// Poll calls cond every `every` until it reports true or `within` passed;
// then the test fails with what cond last said.
func Poll(t testing.TB, within, every time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state: %s", what, within, last)
		}
		time.Sleep(every)
	}
}
