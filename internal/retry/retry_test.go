package retry

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestDelayBounds(t *testing.T) {
	b := Backoff{Base: time.Second, Max: 30 * time.Second}
	for _, tc := range []struct {
		attempt int
		r       float64
		want    time.Duration
	}{
		{0, 0, 500 * time.Millisecond},
		{0, 0.999999999, time.Second},
		{1, 0.999999999, 2 * time.Second},
		{3, 0.999999999, 8 * time.Second},
		{10, 0.999999999, 30 * time.Second},
		{1000, 0, 500 * time.Millisecond},
	} {
		b.Rand = func() float64 { return tc.r }
		got := b.Delay(tc.attempt).Round(time.Millisecond)
		if got != tc.want {
			t.Errorf("Delay(%d) with r=%v = %v, want %v", tc.attempt, tc.r, got, tc.want)
		}
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		go func() { time.Sleep(time.Second); cancel() }()
		if Sleep(ctx, time.Hour) {
			t.Fatal("Sleep reported a full delay after cancel")
		}
		if d := time.Since(start); d != time.Second {
			t.Fatalf("returned after %v, want 1s", d)
		}
		if !Sleep(context.Background(), time.Minute) {
			t.Fatal("Sleep reported cancel without one")
		}
	})
}
