package consumer

import (
	"testing"
	"testing/synctest"
	"time"
)

// A full receive is followed by the next at once; a short one (fewer than
// asked for, none included) by a FillPause first, so that at moderate
// rates receives come back fuller.
func TestFillPauseAfterShortReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(25)
		col := &collect{}
		c, cr, cb := start(t, f, Options{FillPause: 50 * time.Millisecond}, col.handle)
		synctest.Wait()
		// 10 and 10 at once, then 5: short, so the poller pauses.
		if r, _, _, _ := f.snapshot(); r != 3 || col.count() != 25 {
			t.Fatalf("at once: %d receives, %d messages; want 3 receives (10, 10, 5) and 25", r, col.count())
		}
		time.Sleep(49 * time.Millisecond)
		synctest.Wait()
		if r, _, _, _ := f.snapshot(); r != 3 {
			t.Fatalf("within the pause: %d receives, want still 3", r)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if r, _, _, _ := f.snapshot(); r != 4 {
			t.Fatalf("after the pause: %d receives, want the 4th under way", r)
		}
		stop(c, cr, cb)
	})
}

// With FillPause negative, a short receive is followed by the next at once.
func TestFillPauseDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{}
		f.add(5)
		c, cr, cb := start(t, f, Options{FillPause: -1}, (&collect{}).handle)
		synctest.Wait()
		if r, _, _, _ := f.snapshot(); r != 2 {
			t.Fatalf("%d receives, want 2 (the short one, then a long poll at once)", r)
		}
		stop(c, cr, cb)
	})
}
