package status

import "strings"

// Bounds of free text in a snapshot as the console serves it.
const (
	MaxReason   = 200 // characters of a pause or action reason
	MaxText     = 400 // characters of a wait's or an alert's text
	MaxBy       = 200 // characters of who took an action
	MaxExamples = 3   // dead-letter examples per reason
)

// Redacted replaces a secret found in a snapshot's text.
const Redacted = "[redacted]"

// Clean returns a copy of s fit to serve: item samples cut to SampleItems
// of SampleLen characters, bodies, errors and reasons cut to their bounds,
// every occurrence of a secret (the admin token) replaced by Redacted,
// whatever a provider put there, and enumerations a provider left empty
// set to their "don't know" value (kind distribution, origin unknown,
// spend state unknown). s itself is not modified, so a provider
// may hand out its own slices.
func Clean(s Snapshot, secrets ...string) Snapshot {
	c := cleaner{}
	for _, x := range secrets {
		if x != "" {
			c.secrets = append(c.secrets, x)
		}
	}
	s.Version = c.text(s.Version, SampleLen)
	s.Queues = cloneEach(s.Queues, func(q Queue) Queue {
		q.URL = c.text(q.URL, 2*SampleLen)
		q.Lane = c.text(q.Lane, SampleLen)
		q.AttrError = c.text(q.AttrError, SampleLen)
		if q.DLQ != nil {
			d := *q.DLQ
			d.URL = c.text(d.URL, 2*SampleLen)
			q.DLQ = &d
		}
		return q
	})
	s.Distributions = cloneEach(s.Distributions, func(d Distribution) Distribution {
		d.ID = c.text(d.ID, SampleLen)
		d.Aliases = cloneEach(d.Aliases, func(a string) string { return c.text(a, SampleLen) })
		d.Parent = c.text(d.Parent, SampleLen)
		if d.Kind == "" {
			d.Kind = "distribution"
		}
		if d.Paused != nil {
			p := *d.Paused
			p.Reason = c.text(p.Reason, MaxReason)
			p.By = c.text(p.By, MaxBy)
			d.Paused = &p
		}
		d.Batch.Sample = c.sample(d.Batch.Sample)
		d.Waiting = cloneEach(d.Waiting, func(w Wait) Wait {
			w.Text = c.text(w.Text, MaxText)
			return w
		})
		d.View.Error = c.text(d.View.Error, SampleLen)
		d.Spend = c.spend(d.Spend)
		inv := func(i Invalidation) Invalidation {
			i.ID = c.text(i.ID, SampleLen)
			if i.Origin == "" {
				i.Origin = "unknown"
			}
			i.Sample = c.sample(i.Sample)
			return i
		}
		d.InProgress = cloneEach(d.InProgress, inv)
		d.Recent = cloneEach(d.Recent, inv)
		return d
	})
	s.Account = c.spend(s.Account)
	s.DeadLettered.ByReason = cloneEach(s.DeadLettered.ByReason, func(r ReasonCount) ReasonCount {
		r.Code = c.text(r.Code, SampleLen)
		if len(r.Examples) > MaxExamples {
			r.Examples = r.Examples[:MaxExamples]
		}
		r.Examples = cloneEach(r.Examples, func(e Example) Example {
			e.MessageID = c.text(e.MessageID, SampleLen)
			e.Reason = c.text(e.Reason, MaxReason)
			e.Body = c.text(e.Body, SampleLen)
			return e
		})
		return r
	})
	s.Errors = cloneEach(s.Errors, func(e ErrorClass) ErrorClass {
		e.Class = c.text(e.Class, SampleLen)
		e.Sample = c.text(e.Sample, SampleLen)
		return e
	})
	s.Actions = cloneEach(s.Actions, func(a Action) Action {
		a.Target = c.text(a.Target, SampleLen)
		a.By = c.text(a.By, MaxBy)
		a.Reason = c.text(a.Reason, MaxReason)
		a.Result = c.text(a.Result, MaxText)
		return a
	})
	s.Alerts = cloneEach(s.Alerts, func(a Alert) Alert {
		a.Target = c.text(a.Target, 2*SampleLen)
		a.Text = c.text(a.Text, MaxText)
		return a
	})
	return s
}

type cleaner struct{ secrets []string }

func (c cleaner) text(s string, n int) string {
	for _, x := range c.secrets {
		s = strings.ReplaceAll(s, x, Redacted)
	}
	return Truncate(s, n)
}

func (c cleaner) sample(items []string) []string {
	if len(items) > SampleItems {
		items = items[:SampleItems]
	}
	return cloneEach(items, func(s string) string { return c.text(s, SampleLen) })
}

func (c cleaner) spend(s Spend) Spend {
	s.Source = c.text(s.Source, MaxText)
	if s.State == "" {
		s.State = "unknown"
	}
	if s.Upper != nil {
		u := *s.Upper
		s.Upper = &u
	}
	if s.Remaining != nil {
		r := *s.Remaining
		s.Remaining = &r
	}
	return s
}

// cloneEach returns a new slice of f applied to each element; never nil,
// so the schema's arrays are [] rather than null.
func cloneEach[T any](in []T, f func(T) T) []T {
	out := make([]T, len(in))
	for i, x := range in {
		out[i] = f(x)
	}
	return out
}
