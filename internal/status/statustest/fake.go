// Package statustest has a fake status.Provider and status.Controller for
// tests and the screenshot, and realistic snapshots to serve with them.
package statustest

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/acme/cf-invalidator/internal/status"
)

// Call is one Controller call the fake received.
type Call struct {
	Action, Target, Reason, By string
}

// Fake is a Provider and a Controller over a snapshot it keeps. Its actions
// change the snapshot as the worker would (a pause shows on its
// distributions, a flush empties a batch) and are recorded in its Actions,
// newest first, as the real provider records them.
type Fake struct {
	mu    sync.Mutex
	snap  status.Snapshot
	calls []Call
	// Err, when set, is what every action returns (and records).
	Err error
	// Now stamps actions (default: the snapshot's At).
	Now func() time.Time
}

var (
	_ status.Provider   = (*Fake)(nil)
	_ status.Controller = (*Fake)(nil)
)

// New returns a fake serving s.
func New(s status.Snapshot) *Fake { return &Fake{snap: s} }

// Snapshot returns a deep copy of the current snapshot.
func (f *Fake) Snapshot(context.Context) status.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return clone(f.snap)
}

// Update changes the snapshot.
func (f *Fake) Update(fn func(*status.Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.snap)
}

// Calls returns the Controller calls so far, oldest first.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// Pause pauses target ("" = all).
func (f *Fake) Pause(target, reason, by string) error {
	return f.do(Call{"pause", target, reason, by}, func(s *status.Snapshot, now time.Time) {
		for i := range s.Distributions {
			if target == "" || s.Distributions[i].ID == target {
				s.Distributions[i].Paused = &status.Pause{Reason: reason, By: by, At: now, All: target == ""}
			}
		}
	})
}

// Resume resumes target ("" = all).
func (f *Fake) Resume(target, by string) error {
	return f.do(Call{"resume", target, "", by}, func(s *status.Snapshot, _ time.Time) {
		for i := range s.Distributions {
			if target == "" || s.Distributions[i].ID == target {
				s.Distributions[i].Paused = nil
			}
		}
	})
}

// Flush empties target's open batch ("" = all) into an own invalidation.
func (f *Fake) Flush(target, by string) error {
	return f.do(Call{"flush", target, "", by}, func(s *status.Snapshot, now time.Time) {
		for i := range s.Distributions {
			d := &s.Distributions[i]
			if (target == "" || d.ID == target) && d.Batch.Items > 0 {
				d.InProgress = append([]status.Invalidation{{
					ID: "IFLUSH" + d.ID, Status: "InProgress", Created: now, Items: d.Batch.Items,
					Sample: d.Batch.Sample, Origin: "own", Messages: d.Batch.Held,
				}}, d.InProgress...)
				d.Batch = status.Batch{}
			}
		}
	})
}

// ErrUnknown is returned for a target that is not in the snapshot.
var ErrUnknown = errors.New("unknown distribution")

func (f *Fake) do(c Call, apply func(*status.Snapshot, time.Time)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	now := f.snap.At
	if f.Now != nil {
		now = f.Now()
	}
	err := f.Err
	if err == nil && c.Target != "" && !f.has(c.Target) {
		err = ErrUnknown
	}
	result := "ok"
	if err != nil {
		result = "failed: " + err.Error()
	} else {
		apply(&f.snap, now)
	}
	f.snap.Actions = append([]status.Action{{At: now, Action: c.Action, Target: c.Target, By: c.By, Reason: c.Reason, Result: result}}, f.snap.Actions...)
	return err
}

func (f *Fake) has(id string) bool {
	for _, d := range f.snap.Distributions {
		if d.ID == id {
			return true
		}
	}
	return false
}

// clone deep-copies through JSON, the representation the console serves.
func clone(s status.Snapshot) status.Snapshot {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	var out status.Snapshot
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}
