// Package policy decides what of a planned request goes to CloudFront now:
// all of it, a reduction with wildcards, a part, or nothing — and says why
// in words an operator reads. It is pure: the caller supplies CloudFront's
// headroom (from the shared view), the budget estimate (from CloudFront's
// history) and whether the target is paused; no clock, no I/O.
//
// The rules, in order:
//
//  1. Paused (all distributions or this one): hold everything.
//  2. A budget with pause_when_over_budget: spend at most what is left of
//     it (judged on the top of the month's range, see internal/cost); with
//     nothing left, or the month not known yet, hold everything.
//  3. Near or over a budget (without pausing): collapse harder — at most
//     nearBudgetFiles file paths, a wildcard being billed as one path.
//  4. A lane's collapse_above: a request with more file paths is collapsed
//     to that many if the collapse policy allows (bulk work collapses early).
//  5. What fits the headroom (CloudFront's 3,000 file paths and 15 wildcards
//     in progress per distribution, less what is in progress and the
//     reserve) goes as it is.
//  6. Otherwise reduce under the distribution's collapse policy (never /
//     at least collapse_min_paths per directory), never broader than its
//     origin floor (collapse_min_depth). A message that has waited longer
//     than max_hold forces the reduction past the policy — but not past the
//     floor. What still does not fit: send the part that does, hold the
//     rest; when max_hold has passed and only the floor stops a broader
//     reduction, that is reported (FloorHit) instead of crossed.
package policy

import (
	"time"

	"github.com/acme/cf-invalidator/internal/coalesce"
	"github.com/acme/cf-invalidator/internal/collapse"
	"github.com/acme/cf-invalidator/internal/cost"
)

// Room is what CloudFront will take for a target right now.
type Room struct{ Files, Wildcards int }

// Target is one distribution's policy.
type Target struct {
	Collapse collapse.Policy
	// MaxHold: a request holding a message longer than this is reduced as
	// far as the floor allows to go out.
	MaxHold time.Duration
}

// Options configures a Gate.
type Options struct {
	Targets map[string]Target
	Default Target // for targets not listed (allow_all_distributions)
	// PauseWhenOverBudget holds instead of spending past a budget.
	PauseWhenOverBudget bool
}

// Gate applies the rules of the package comment.
type Gate struct{ o Options }

// New returns a Gate.
func New(o Options) *Gate { return &Gate{o: o} }

// Policy returns target's policy.
func (g *Gate) Policy(target string) Target {
	if p, ok := g.o.Targets[target]; ok {
		return p
	}
	return g.o.Default
}

// nearBudgetFiles: near a budget a request is collapsed until it has at most
// this many file paths — a wildcard is billed as one path.
const nearBudgetFiles = 10

// Why something is held (metric label values and words for the status
// page).
const (
	HeldPaused        = "paused"
	HeldOverBudget    = "over_budget"
	HeldBudgetUnknown = "budget_unknown"
	HeldQuota         = "quota"
	HeldFloor         = "origin_floor"
)

// Reason is the operator's sentence for a held reason code.
func Reason(code string) string {
	switch code {
	case HeldPaused:
		return "paused by an operator"
	case HeldOverBudget:
		return "over the monthly budget"
	case HeldBudgetUnknown:
		return "waiting for CloudFront's history of this month to check the budget"
	case HeldQuota:
		return "waiting for CloudFront's in-progress quota"
	case HeldFloor:
		return "held past max_hold: a broader wildcard would cross collapse_min_depth"
	}
	return code
}

// Input is what the gate decides on.
type Input struct {
	Request coalesce.Request
	Room    Room
	Budget  cost.TargetEstimate
	Paused  bool
	// Waited is how long the request's longest-held message has waited.
	Waited time.Duration
	// CollapseAbove: a request with more file paths than this is collapsed
	// to fit it even when the headroom would take it (the bulk lane's
	// collapse_above: bulk work collapses earlier, leaving quota to live
	// work); 0 = off. Where the collapse policy allows no reduction to fit,
	// the request goes on as if it were off.
	CollapseAbove int
}

// Decision is what goes out now.
type Decision struct {
	// Submit is what to send; no Paths means nothing goes out now.
	Submit coalesce.Request
	// Held is why the rest (or all) is held ("" = nothing held); HeldPaths
	// how many of the request's paths wait.
	Held      string
	HeldPaths int
	// Collapsed: Submit is a reduction with wildcards; Forced: max_hold
	// pushed it past the collapse policy; FloorHit: max_hold passed and the
	// origin floor stopped a broader reduction.
	Collapsed, Forced, FloorHit bool
}

// Decide applies the rules to one request.
func (g *Gate) Decide(target string, in Input) Decision {
	r := in.Request
	if in.Paused {
		return hold(r, HeldPaused)
	}
	p := g.Policy(target)
	room := in.Room
	limit := -1 // paths the budget still allows; -1 = no limit
	if in.Budget.Remaining >= 0 && g.o.PauseWhenOverBudget {
		if in.Budget.Remaining == 0 {
			if in.Budget.State == cost.Unknown {
				return hold(r, HeldBudgetUnknown)
			}
			return hold(r, HeldOverBudget)
		}
		limit = in.Budget.Remaining
		room.Files, room.Wildcards = min(room.Files, limit), min(room.Wildcards, limit)
	}
	if s := in.Budget.State; s == cost.Near || s == cost.Over {
		room.Files = min(room.Files, nearBudgetFiles)
	}
	stale := p.MaxHold > 0 && in.Waited > p.MaxHold
	if ca := in.CollapseAbove; ca > 0 && r.Files() > ca && !stale {
		early := collapse.Fit(r.Paths, collapse.Headroom{Files: min(room.Files, ca), Wildcards: room.Wildcards}, p.Collapse)
		if early.Fits && (limit < 0 || len(early.Paths) <= limit) {
			return Decision{Submit: r.Replace(early.Paths, early.Replaced), Collapsed: len(early.Replaced) > 0}
		}
	}
	if fitsRoom(r, room, limit) {
		return Decision{Submit: r}
	}
	var res collapse.Result
	if stale {
		res = collapse.Force(r.Paths, collapse.Headroom{Files: room.Files, Wildcards: room.Wildcards}, p.Collapse.MinDepth)
	} else {
		res = collapse.Fit(r.Paths, collapse.Headroom{Files: room.Files, Wildcards: room.Wildcards}, p.Collapse)
	}
	d := Decision{}
	if res.Fits {
		reduced := r.Replace(res.Paths, res.Replaced)
		d.Collapsed, d.Forced = len(res.Replaced) > 0, stale
		if limit < 0 || len(reduced.Paths) <= limit {
			d.Submit = reduced
			return d
		}
		r = reduced // within the room, over what the budget allows: cut it
	}
	d.FloorHit = stale && !res.Fits && p.Collapse.MinDepth > 0 &&
		collapse.Force(r.Paths, collapse.Headroom{Files: room.Files, Wildcards: room.Wildcards}, 0).Fits
	head, rest := take(r, room, limit)
	d.Submit, d.HeldPaths = head, len(rest.Paths)
	switch {
	case len(rest.Paths) == 0:
	case d.FloorHit:
		d.Held = HeldFloor
	case limit >= 0 && len(head.Paths) >= limit:
		d.Held = HeldOverBudget
	default:
		d.Held = HeldQuota
	}
	return d
}

func hold(r coalesce.Request, why string) Decision {
	return Decision{Held: why, HeldPaths: len(r.Paths)}
}

func fitsRoom(r coalesce.Request, room Room, limit int) bool {
	return r.Files() <= room.Files && r.Wildcards() <= room.Wildcards && (limit < 0 || len(r.Paths) <= limit)
}

// take cuts r to what fits room and, when limit ≥ 0, at most limit paths
// in all (wildcards first: each covers more).
func take(r coalesce.Request, room Room, limit int) (head, rest coalesce.Request) {
	files, wild := room.Files, room.Wildcards
	if limit >= 0 {
		wild = min(wild, r.Wildcards(), limit)
		files = min(files, limit-wild)
	}
	return r.Take(max(files, 0), max(wild, 0))
}
