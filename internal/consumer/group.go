package consumer

import (
	"context"
	"sync"
	"time"
)

// Group runs several consumers (one per queue: live and bulk lanes) as
// one: the pipeline settles a message through the Group, which hands it to
// the consumer holding it. Each consumer keeps its own max_held, so a bulk
// backlog never stops the live queue from being received.
type Group struct {
	cs []*Consumer
}

// NewGroup returns a Group of cs (at least one).
func NewGroup(cs ...*Consumer) *Group { return &Group{cs: cs} }

// Consumers returns the group's consumers.
func (g *Group) Consumers() []*Consumer { return g.cs }

// Start starts every consumer with the same handler.
func (g *Group) Start(recvCtx, bgCtx context.Context, h Handler) {
	for _, c := range g.cs {
		c.Start(recvCtx, bgCtx, h)
	}
}

// Ready is closed once every consumer has received successfully once.
func (g *Group) Ready() <-chan struct{} {
	if len(g.cs) == 1 {
		return g.cs[0].Ready()
	}
	ch := make(chan struct{})
	go func() {
		for _, c := range g.cs {
			<-c.Ready()
		}
		close(ch)
	}()
	return ch
}

func (g *Group) each(f func(*Consumer)) {
	for _, c := range g.cs {
		f(c)
	}
}

// StopReceiving stops every consumer's pollers from starting new receives.
func (g *Group) StopReceiving() { g.each((*Consumer).StopReceiving) }

// WaitPollers waits for every consumer's pollers.
func (g *Group) WaitPollers() { g.each((*Consumer).WaitPollers) }

// WaitBackground waits for every consumer's heartbeat and deleters.
func (g *Group) WaitBackground() { g.each((*Consumer).WaitBackground) }

// WaitPollersFor waits up to d, in all, for every consumer's pollers.
func (g *Group) WaitPollersFor(d time.Duration) bool {
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	ok := true
	var mu sync.Mutex
	for _, c := range g.cs {
		wg.Go(func() {
			if !c.WaitPollersFor(time.Until(deadline)) {
				mu.Lock()
				ok = false
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok
}

// Held returns the messages held by all consumers.
func (g *Group) Held() int {
	n := 0
	g.each(func(c *Consumer) { n += c.Held() })
	return n
}

// ReleaseAll releases what every consumer holds.
func (g *Group) ReleaseAll(ctx context.Context) int {
	n := 0
	g.each(func(c *Consumer) { n += c.ReleaseAll(ctx) })
	return n
}

// owner returns the consumer holding id (nil if none does).
func (g *Group) owner(id string) *Consumer {
	for _, c := range g.cs {
		if c.Holds(id) {
			return c
		}
	}
	return nil
}

// Delete deletes held messages, each through the consumer holding it (a
// consumer ignores the ids it does not hold).
func (g *Group) Delete(ids ...string) {
	for _, c := range g.cs {
		c.Delete(ids...)
	}
}

// Message returns a held message by id.
func (g *Group) Message(id string) (*Message, bool) {
	for _, c := range g.cs {
		if m, ok := c.Message(id); ok {
			return m, true
		}
	}
	return nil, false
}

// Abandon stops holding a message (see Consumer.Abandon).
func (g *Group) Abandon(id string) {
	if c := g.owner(id); c != nil {
		c.Abandon(id)
	}
}

// DeadLetter dead-letters m through the consumer holding it, to that
// queue's DLQ.
func (g *Group) DeadLetter(ctx context.Context, m *Message, r Rejection) error {
	if c := g.owner(m.ID); c != nil {
		return c.DeadLetter(ctx, m, r)
	}
	return nil // not held any more: released or its lease lost; it comes back
}

// DeadLetterPart sends a rejected part of m to the DLQ of m's queue.
func (g *Group) DeadLetterPart(ctx context.Context, m *Message, r Rejection) error {
	if c := g.owner(m.ID); c != nil {
		return c.DeadLetterPart(ctx, m, r)
	}
	return nil
}
