package cfview

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// monthOf returns the first instant of t's calendar month in UTC: AWS bills
// invalidation paths per calendar month.
func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func (v *View) monthChanged(t *target, month time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return !t.historyDone || !t.month.Equal(month)
}

// history lists t's invalidations back to the start of the month (at most
// HistoryPages pages) so the month's spend can be rebuilt from what
// CloudFront holds; the sizer then fetches each one's size. On an error it
// gives up for now; the loop tries again on its next tick.
func (v *View) history(ctx context.Context, t *target, log *zap.Logger) {
	now := v.o.Now()
	month := monthOf(now)
	marker := ""
	var evs []event
	defer func() { v.emit(evs) }()
	for pages := 1; ; pages++ {
		items, next, err := v.list(ctx, t, marker)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("cloudfront view: listing this month's invalidations failed; spend stays unknown until it succeeds", zap.Error(err))
			}
			return
		}
		reached := false
		v.mu.Lock()
		for _, s := range items {
			v.noteLocked(t, s, now, &evs)
			reached = reached || s.Created.Before(month)
		}
		v.mu.Unlock()
		if next == "" || reached {
			break
		}
		if pages >= v.o.HistoryPages {
			log.Warn("cloudfront view: this month's history is longer than the scan bound; spend is a lower bound and budgets hold",
				zap.Int("pages", pages), zap.Int("invalidations", pages*pageSize))
			v.mu.Lock()
			t.truncated = true
			v.mu.Unlock()
			break
		}
		marker = next
	}
	v.mu.Lock()
	t.month, t.historyDone = month, true
	v.mu.Unlock()
	v.kickSizer(t)
}

func (v *View) kickSizer(t *target) {
	select {
	case t.sizer <- struct{}{}:
	default:
	}
}

// sizeLoop fetches the size of every invalidation of the month (or within
// the item horizon) not yet sized, newest first, within the read rate.
func (v *View) sizeLoop(ctx context.Context, t *target) {
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.sizer:
		}
		for _, id := range v.unsized(t) {
			var evs []event
			err := v.size(ctx, t, id, &evs, true)
			v.emit(evs)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				failures++
				v.log.Debug("cloudfront view: sizing an invalidation failed", zap.String("target", t.id),
					zap.String("invalidation_id", id), zap.Error(err), zap.Int("failures", failures))
				// Try again with the next refresh's kick rather than spin.
				break
			}
			failures = 0
		}
	}
}

// unsized returns the ids still to size, newest first.
func (v *View) unsized(t *target) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	month := monthOf(v.o.Now())
	var ids []string
	for _, r := range t.recs {
		if !r.Sized && (!r.Created.Before(month) || v.o.Now().Sub(r.Created) < v.o.ItemHorizon) {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// Spend is a target's invalidation paths this calendar month (UTC), from
// CloudFront's own history: every invalidation counts, whoever made it,
// because that is what AWS bills.
type Spend struct {
	Month time.Time
	// Paths billed by the sized invalidations created this month.
	Paths int
	// Unsized: invalidations of the month whose size is not known yet.
	Unsized int
	// Listed: the month's history was listed back to its start (or the
	// scan bound stopped it: Truncated). Before that the month is unknown.
	Listed, Truncated bool
	// AsOf is the view's last successful refresh.
	AsOf time.Time
}

// Known reports whether Paths is the month's exact figure.
func (s Spend) Known() bool { return s.Listed && !s.Truncated && s.Unsized == 0 }

// Upper returns the most the month can have billed given what is known
// (each unsized invalidation as large as CloudFront allows), and false when
// no bound is known (history not listed, or truncated).
func (s Spend) Upper() (int, bool) {
	if !s.Listed || s.Truncated {
		return 0, false
	}
	return s.Paths + s.Unsized*(MaxFiles+MaxWildcards), true
}

// Spend returns target's month so far.
func (v *View) Spend(target string) Spend {
	v.mu.Lock()
	defer v.mu.Unlock()
	t := v.targets[target]
	if t == nil {
		return Spend{}
	}
	now := v.o.Now()
	month := monthOf(now)
	s := Spend{Month: month, AsOf: t.listed, Listed: t.historyDone && t.month.Equal(month), Truncated: t.truncated}
	for _, r := range t.recs {
		if r.Created.Before(month) {
			continue
		}
		if r.Sized {
			s.Paths += r.Paths()
		} else {
			s.Unsized++
		}
	}
	return s
}
