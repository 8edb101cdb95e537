package worker

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/coalesce"
)

// Room is what CloudFront will take for a distribution right now: its
// in-progress limits (3,000 file paths, 15 wildcards) less what is in
// progress and the reserve kept for people.
type Room struct{ Files, Wildcards int }

// fullRoom is CloudFront's per-distribution limit, used when no quota view is
// configured.
var fullRoom = Room{Files: coalesce.MaxFilePathsPerRequest, Wildcards: coalesce.MaxWildcardsPerRequest}

// quotaView knows what is in progress per distribution.
type quotaView interface {
	Room(ctx context.Context, dist string) (Room, error)
	Submitted(dist, id string, paths []string, at time.Time)
}

// reducer collapses paths into wildcards until they fit a room. force
// ignores the distribution's policy (never / minimum paths per directory).
type reducer interface {
	Reduce(dist string, paths []string, room Room, force bool) (out []string, replaced map[string]string, fits bool)
}

// BudgetState says where a distribution stands against its budgets.
type BudgetState int

// Budget states.
const (
	UnderBudget BudgetState = iota
	NearBudget
	OverBudget
)

// budget meters billed paths.
type budget interface {
	Record(dist string, paths int)
	State(dist string) BudgetState
}

// watcher follows accepted invalidations to completion.
type watcher interface {
	Watch(dist, id, status string, messageIDs []string, paths int, createdAt time.Time)
}

// GateOptions configures what stands between a flushed request and
// CloudFront. Every field is optional.
type GateOptions struct {
	Quota   quotaView
	Reducer reducer
	Budget  budget
	Watcher watcher
	// MaxHold per distribution (and Default for the rest): a request holding
	// a message longer than this is reduced as far as needed to go out.
	MaxHold        map[string]time.Duration
	DefaultMaxHold time.Duration
	// PauseWhenOverBudget holds instead of spending once over a budget.
	PauseWhenOverBudget bool
	// Recheck is how long a held request waits before it is tried again
	// (quota freed by completions, resume, next month); default 10 s.
	Recheck time.Duration
}

// nearBudgetFiles: near a budget a request is collapsed until it has at most
// this many file paths — a wildcard is billed as one path.
const nearBudgetFiles = 10

// gate decides what of r goes to CloudFront now. It returns the request to
// submit (possibly reduced or a head of r) and false when all of r is held.
// What is held goes back to the coalescer, merging with newer paths.
func (w *Worker) gate(r coalesce.Request, log *zap.Logger) (coalesce.Request, bool) {
	g := w.opts.Gate
	if w.paused.Load() {
		w.hold(r, g.Recheck, "paused", log)
		return r, false
	}
	state := UnderBudget
	if g.Budget != nil {
		state = g.Budget.State(r.Distribution)
	}
	if state == OverBudget && g.PauseWhenOverBudget {
		w.hold(r, g.Recheck, "over_budget", log)
		return r, false
	}
	room := fullRoom
	if g.Quota != nil {
		var err error
		if room, err = g.Quota.Room(w.ctx, r.Distribution); err != nil {
			log.Warn("cloudfront in-progress view unavailable; counting own submissions only", zap.Error(err))
		}
	}
	if state != UnderBudget {
		room.Files = min(room.Files, nearBudgetFiles)
	}
	if fits(r, room) {
		return r, true
	}
	stale := w.oldest(r) > w.maxHold(r.Distribution)
	if g.Reducer != nil {
		out, replaced, ok := g.Reducer.Reduce(r.Distribution, r.Paths, room, stale)
		if ok {
			w.m.Collapses.WithLabelValues(r.Distribution).Inc()
			log.Info("collapsed to fit CloudFront's in-progress headroom", zap.Int("from_paths", len(r.Paths)),
				zap.Int("to_paths", len(out)), zap.Int("room_files", room.Files), zap.Int("room_wildcards", room.Wildcards),
				zap.Bool("forced_by_max_hold", stale), zap.String("budget", [...]string{"under", "near", "over"}[state]))
			return r.Replace(out, replaced), true
		}
	}
	head, rest := r.Take(room.Files, room.Wildcards)
	if len(head.Paths) == 0 {
		w.hold(r, g.Recheck, "quota", log)
		return r, false
	}
	// r becomes head (submitted now) and rest (held): a message with paths
	// in both must wait for both, so each part takes its own obligation
	// before r gives up its one.
	w.obligate(head.Messages)
	w.requeue(rest, g.Recheck, "quota", log)
	w.release(r)
	return head, true
}

// obligate adds one obligation to each of ids.
func (w *Worker) obligate(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if t := w.pending[id]; t != nil {
			t.obligations++
		}
	}
}

func fits(r coalesce.Request, room Room) bool {
	return r.Files() <= room.Files && r.Wildcards() <= room.Wildcards
}

// oldest is how long the longest-held message of r has been waiting.
func (w *Worker) oldest(r coalesce.Request) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for _, id := range r.Messages {
		if t := w.pending[id]; t != nil && (first.IsZero() || t.since.Before(first)) {
			first = t.since
		}
	}
	if first.IsZero() {
		return 0
	}
	return time.Since(first)
}

func (w *Worker) maxHold(dist string) time.Duration {
	if d, ok := w.opts.Gate.MaxHold[dist]; ok && d > 0 {
		return d
	}
	if w.opts.Gate.DefaultMaxHold > 0 {
		return w.opts.Gate.DefaultMaxHold
	}
	return time.Hour
}

// hold puts all of r back into its distribution's group for at least d: the
// messages stay held (the heartbeat keeps them invisible) and newer paths
// merge in. The held messages take the group's token before the request
// gives up its own, so none can look finished in between.
func (w *Worker) hold(r coalesce.Request, d time.Duration, why string, log *zap.Logger) {
	w.requeue(r, d, why, log)
	w.release(r)
}

// requeue puts r's paths into the distribution's group with one new
// obligation (the group's token) per message; the caller settles the
// obligations r itself held.
func (w *Worker) requeue(r coalesce.Request, d time.Duration, why string, log *zap.Logger) {
	if len(r.Paths) == 0 {
		return
	}
	w.m.HeldPaths.WithLabelValues(why).Add(float64(len(r.Paths)))
	w.obligate(r.Messages)
	log.Debug("holding paths", zap.String("why", why), zap.Int("held_paths", len(r.Paths)), zap.Duration("recheck", d))
	w.co.Requeue(r, time.Now().Add(d))
}

// Pause holds every request (messages keep being received up to max_held)
// until Resume: for data migrations and incidents.
func (w *Worker) Pause(reason string) {
	w.paused.Store(true)
	w.pauseReason.Store(reason)
	w.m.Paused.Set(1)
}

// Resume ends a Pause.
func (w *Worker) Resume() {
	w.paused.Store(false)
	w.m.Paused.Set(0)
}

// Status is what GET /admin/status shows.
func (w *Worker) Status() any {
	reason, _ := w.pauseReason.Load().(string)
	return map[string]any{"paused": w.paused.Load(), "pause_reason": reason, "pending_messages": w.Pending()}
}
