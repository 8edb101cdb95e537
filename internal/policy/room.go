package policy

import (
	"sync"
	"time"
)

// Limits are CloudFront's in-progress limits per distribution and the
// reserve the worker leaves for people.
type Limits struct {
	// Files and Wildcards: 3,000 and 15 (CloudFront Developer Guide,
	// "Concurrent invalidation request maximum"); zero means those.
	Files, Wildcards int
	// ReserveFiles and ReserveWildcards are kept free for people (manual
	// invalidations during an incident).
	ReserveFiles, ReserveWildcards int
}

// CloudFront's in-progress limits per distribution.
const (
	MaxFiles     = 3000
	MaxWildcards = 15
)

// Room returns what may still be submitted when files and wildcards are in
// progress (everyone's) and pendingFiles/pendingWildcards are on their way
// from this process: never negative.
func (l Limits) Room(files, wildcards, pendingFiles, pendingWildcards int) Room {
	mf, mw := l.Files, l.Wildcards
	if mf <= 0 {
		mf = MaxFiles
	}
	if mw <= 0 {
		mw = MaxWildcards
	}
	return Room{
		Files:     max(0, mf-l.ReserveFiles-files-pendingFiles),
		Wildcards: max(0, mw-l.ReserveWildcards-wildcards-pendingWildcards),
	}
}

// Pauses records who paused what. A pause of "" holds every target.
type Pauses struct {
	mu sync.Mutex
	by map[string]PauseInfo
}

// PauseInfo is one pause.
type PauseInfo struct {
	Reason, By string
	At         time.Time
}

// Pause pauses target ("" = all).
func (p *Pauses) Pause(target, reason, by string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.by == nil {
		p.by = map[string]PauseInfo{}
	}
	p.by[target] = PauseInfo{Reason: reason, By: by, At: at}
}

// Resume ends target's pause ("" = the pause of all; a target's own pause
// stays). It reports whether there was one.
func (p *Pauses) Resume(target string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.by[target]
	delete(p.by, target)
	return ok
}

// Paused returns the pause holding target: its own, else the pause of all.
func (p *Pauses) Paused(target string) (PauseInfo, bool, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i, ok := p.by[target]; ok {
		return i, true, false
	}
	if i, ok := p.by[""]; ok {
		return i, true, true
	}
	return PauseInfo{}, false, false
}
