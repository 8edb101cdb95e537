package e2e

// The core promise, checked from outside (DESIGN.md, "Delete after a
// covering invalidation was accepted"): a message is deleted only when
// CloudFront has accepted invalidations that together cover all of its
// items and that were created after the message was sent.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Want is what justifies deleting one message.
type Want struct {
	// Dist and Items: each item (normalized path or #tag) must be covered
	// by an accepted invalidation of Dist created after the message's
	// SentTimestamp and no later than the delete.
	Dist  string
	Items []string
	// Tenant, when set, is the distribution tenant (of Dist) the message
	// named: its items must be covered by that tenant's invalidations
	// (CreateInvalidationForDistributionTenant), which clear the tenant's
	// cache only — neither the distribution's own invalidations nor a
	// sibling tenant's count.
	Tenant string
	// DeadLettered: the message, or the part of it the worker rejected, must
	// be in the dead-letter queue — a copy whose invalidator.source_message_id
	// names the message, sent no later than the delete. With no Items the
	// whole message was poison and the copy's body must be the original.
	DeadLettered bool
	// Ignore, when set, says why deleting the message needs no invalidation
	// and no copy (an s3:TestEvent, an event outside every prefix): the
	// delete is expected, and not checked further.
	Ignore string
}

// Wants maps MessageId → what justifies its delete. Every message in it is
// expected to be deleted; a delete of a message not in it is a violation.
type Wants map[string]Want

// Violation is one delete (or expected delete) that the evidence does not
// justify.
type Violation struct {
	MessageID string
	Item      string    // the uncovered item; "" for a message-level problem
	Sent      time.Time // the message's SentTimestamp (zero if unknown)
	DeletedAt time.Time // the delete (zero if it was never deleted)
	Problem   string    // what is wrong
	// Candidate is the invalidation that came closest to justifying the
	// item, and Why it did not.
	Candidate *Invalidation
	Why       string
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "message %s", v.MessageID)
	if v.Item != "" {
		fmt.Fprintf(&b, " item %q", v.Item)
	}
	if !v.Sent.IsZero() {
		fmt.Fprintf(&b, " sent %s", v.Sent.Format(stamp))
	}
	if !v.DeletedAt.IsZero() {
		fmt.Fprintf(&b, " deleted %s", v.DeletedAt.Format(stamp))
	}
	fmt.Fprintf(&b, ": %s", v.Problem)
	if v.Candidate != nil {
		fmt.Fprintf(&b, "; best candidate: invalidation %s of %s created %s (%d items)",
			v.Candidate.ID, v.Candidate.Dist, v.Candidate.Created.Format(stamp), len(v.Candidate.Items))
	}
	if v.Why != "" {
		fmt.Fprintf(&b, ": %s", v.Why)
	}
	return b.String()
}

const stamp = "15:04:05.000000"

// Justification is the outcome of [Justify].
type Justification struct {
	Violations []Violation
	// Deletes is how many successful deletes were checked, of Messages
	// distinct messages. Of those, ByInvalidation had every delete justified
	// by invalidations, ByDeadLetter by a dead-letter copy (a partly
	// dead-lettered message counts in both), and Ignored needed neither.
	Deletes, Messages, ByInvalidation, ByDeadLetter, Ignored int
	// Redeleted is how many messages were deleted more than once (each
	// delete is checked).
	Redeleted int
}

// Justify checks every successful delete the proxy recorded against wants,
// the accepted invalidations invs and what the dead-letter queue holds
// (dlq, as received by the test). A delete of message M is justified when:
//
//   - wants[M] exists (the test expected M to be deleted), and
//   - unless it is Ignore'd: for every item, some invalidation of
//     wants[M]'s target (its Tenant if set, else its Dist: see
//     [Invalidation.Target]) holds an item that [Covers] it, created after M's
//     SentTimestamp and no later than the delete; and, if DeadLettered, a
//     copy in dlq names M as its source and was sent no later than the
//     delete.
//
// "After the SentTimestamp": SentTimestamp is in whole milliseconds,
// truncated, so the send happened somewhere in that millisecond. An
// invalidation counts only when created at or after the end of it — the
// conservative reading; no real invalidation that could justify a message
// is created within a millisecond of its send, since the worker must first
// receive it. "No later than the delete": the delete time is when the
// request reached the proxy, before SQS acted on it.
//
// Every message of wants must have been deleted at least once, and the
// proxy must have read every body and attributed every delete; otherwise
// the check would be incomplete, which is a violation too.
func Justify(rec Record, wants Wants, invs []Invalidation, dlq []Message) Justification {
	var j Justification
	byDist := map[string][]*indexedInv{} // by target: a tenant's invalidations apart from its distribution's
	for i := range invs {
		x := index(&invs[i])
		byDist[x.inv.Target()] = append(byDist[x.inv.Target()], x)
	}
	var all []*indexedInv
	for _, xs := range byDist {
		all = append(all, xs...)
	}
	copies := map[string][]Message{}
	for _, m := range dlq {
		if src := m.SourceID(); src != "" {
			copies[src] = append(copies[src], m)
		}
	}

	for _, p := range rec.Problems {
		j.Violations = append(j.Violations, Violation{Problem: "the SQS proxy could not read a body: " + p})
	}
	for _, e := range rec.ProxyErrors {
		j.Violations = append(j.Violations, Violation{Problem: "the SQS proxy failed to forward a request: " + e})
	}
	if rec.UnknownDelete > 0 {
		j.Violations = append(j.Violations, Violation{Problem: fmt.Sprintf(
			"%d successful deletes named receipt handles the proxy never saw received: those deletes are unchecked", rec.UnknownDelete)})
	}

	ids := make([]string, 0, len(rec.DeletedAt))
	for id := range rec.DeletedAt {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	j.Messages = len(ids)
	for _, id := range ids {
		dels := rec.DeletedAt[id]
		if len(dels) > 1 {
			j.Redeleted++
		}
		w, ok := wants[id]
		switch {
		case !ok:
			j.Deletes += len(dels)
			j.Violations = append(j.Violations, Violation{MessageID: id, Sent: rec.Sent[id], DeletedAt: dels[0],
				Problem: fmt.Sprintf("deleted, but the test expected no delete of it (body %s)", Abridge(rec.Bodies[id], 200))})
			continue
		case w.Ignore != "":
			j.Deletes += len(dels)
			j.Ignored++
			continue
		case len(w.Items) == 0 && !w.DeadLettered:
			j.Violations = append(j.Violations, Violation{MessageID: id, DeletedAt: dels[0],
				Problem: "the test's Want names no item, no dead-letter copy and no reason to ignore it"})
			continue
		}
		sent, known := rec.Sent[id]
		if !known && len(w.Items) > 0 {
			j.Violations = append(j.Violations, Violation{MessageID: id, DeletedAt: dels[0],
				Problem: "the proxy saw no SentTimestamp for it, so no invalidation can be shown to postdate the send"})
			continue
		}
		copyOK, itemsOK := true, true
		for _, at := range dels {
			j.Deletes++
			if w.DeadLettered {
				if v, bad := checkCopy(id, rec.Bodies[id], len(w.Items) == 0, at, copies[id]); bad {
					v.Sent = sent
					j.Violations = append(j.Violations, v)
					copyOK = false
				}
			}
			target := w.target()
			for _, item := range w.Items {
				if justified(byDist[target], item, sent, at) {
					continue
				}
				v := Violation{MessageID: id, Item: item, Sent: sent, DeletedAt: at}
				explain(&v, target, w.Tenant != "", byDist[target], all)
				j.Violations = append(j.Violations, v)
				itemsOK = false
			}
		}
		if len(w.Items) > 0 && itemsOK {
			j.ByInvalidation++
		}
		if w.DeadLettered && copyOK {
			j.ByDeadLetter++
		}
	}

	var never []string
	for id := range wants {
		if len(rec.DeletedAt[id]) == 0 {
			never = append(never, id)
		}
	}
	slices.Sort(never)
	for _, id := range never {
		j.Violations = append(j.Violations, Violation{MessageID: id, Sent: rec.Sent[id],
			Problem: "never deleted through the proxy: the check is incomplete for it"})
	}
	return j
}

// target is the key of the invalidations that may justify the want: its
// tenant's, else its distribution's (as [Invalidation.Target]).
func (w Want) target() string {
	if w.Tenant != "" {
		return w.Tenant
	}
	return w.Dist
}

// CheckDeletesJustified fails the test for every violation [Justify] finds,
// naming the message, the item and the closest candidate invalidation, and
// logs what was checked.
func CheckDeletesJustified(t testing.TB, rec Record, wants Wants, invs []Invalidation, dlq ...Message) Justification {
	t.Helper()
	j := Justify(rec, wants, invs, dlq)
	if n := len(j.Violations); n > 0 {
		const show = 20
		var b strings.Builder
		for _, v := range j.Violations[:min(show, n)] {
			b.WriteString("\n  " + v.String())
		}
		if n > show {
			fmt.Fprintf(&b, "\n  … and %d more", n-show)
		}
		t.Errorf("core promise: %d unjustified or unchecked deletes (of %d checked, %d messages expected, %d invalidations as evidence):%s",
			n, j.Deletes, len(wants), len(invs), b.String())
	}
	t.Logf("core promise: %d deletes of %d messages checked; messages justified by invalidations created after their send: %d, by a dead-letter copy: %d; ignored by design: %d; deleted more than once: %d",
		j.Deletes, j.Messages, j.ByInvalidation, j.ByDeadLetter, j.Ignored, j.Redeleted)
	return j
}

// indexedInv is an invalidation with its items indexed for [Covers].
type indexedInv struct {
	inv       *Invalidation
	exact     map[string]bool
	tags      map[string]bool // lower-cased (ASCII) tags
	wildcards []string        // prefixes of the trailing-* paths
}

func index(inv *Invalidation) *indexedInv {
	x := &indexedInv{inv: inv, exact: map[string]bool{}, tags: map[string]bool{}}
	for _, it := range inv.Items {
		switch {
		case strings.HasPrefix(it, "#"):
			x.tags[asciiLower(it)] = true
		case strings.HasSuffix(it, "*"):
			x.wildcards = append(x.wildcards, strings.TrimSuffix(it, "*"))
			x.exact[it] = true
		default:
			x.exact[it] = true
		}
	}
	return x
}

// covers is [Covers] over every item of the invalidation.
func (x *indexedInv) covers(item string) bool {
	if strings.HasPrefix(item, "#") {
		return x.tags[asciiLower(item)]
	}
	if x.exact[item] {
		return true
	}
	for _, pre := range x.wildcards {
		if strings.HasPrefix(item, pre) {
			return true
		}
	}
	return false
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// notBefore is the earliest creation time that is surely after a send
// whose SentTimestamp is sent: the end of that millisecond.
func notBefore(sent time.Time) time.Time {
	return sent.Truncate(time.Millisecond).Add(time.Millisecond)
}

func justified(invs []*indexedInv, item string, sent, deletedAt time.Time) bool {
	from := notBefore(sent)
	for _, x := range invs {
		c := x.inv.Created
		if !c.Before(from) && !c.After(deletedAt) && x.covers(item) {
			return true
		}
	}
	return false
}

// explain fills in why item was not justified and the closest candidate.
// dist is the target whose invalidations were looked at; tenant says it is
// a distribution tenant.
func explain(v *Violation, dist string, tenant bool, invs, all []*indexedInv) {
	from := notBefore(v.Sent)
	var before, after *Invalidation // covering, created too early (latest) / too late (earliest)
	for _, x := range invs {
		if !x.covers(v.Item) {
			continue
		}
		switch c := x.inv.Created; {
		case c.Before(from):
			if before == nil || c.After(before.Created) {
				before = x.inv
			}
		case c.After(v.DeletedAt):
			if after == nil || c.Before(after.Created) {
				after = x.inv
			}
		}
	}
	switch {
	case before != nil && (after == nil || v.Sent.Sub(before.Created) <= after.Created.Sub(v.DeletedAt)):
		v.Problem = "no covering invalidation created between the send and the delete"
		v.Candidate = before
		v.Why = fmt.Sprintf("it covers the item but was created %s before the send (SentTimestamp %s, whole ms)",
			v.Sent.Sub(before.Created), v.Sent.Format(stamp))
		if after != nil {
			v.Why += fmt.Sprintf("; the next covering one, %s, was created %s after the delete", after.ID, after.Created.Sub(v.DeletedAt))
		}
	case after != nil:
		v.Problem = "no covering invalidation created between the send and the delete"
		v.Candidate = after
		v.Why = fmt.Sprintf("it covers the item but was created %s after the delete", after.Created.Sub(v.DeletedAt))
	default:
		v.Problem = fmt.Sprintf("no accepted invalidation of %s (%d) covers it", dist, len(invs))
		for _, x := range all {
			if x.inv.Target() != dist && x.covers(v.Item) {
				v.Candidate = x.inv
				v.Why = "covered only by an invalidation of another distribution"
				if tenant || x.inv.Tenant != "" {
					v.Why = "covered only by an invalidation of another target (a distribution and its tenants invalidate apart)"
				}
				return
			}
		}
		// The nearest miss: the item sharing the longest prefix, which shows
		// encoding slips ("/a b" against "/a%20b") at a glance.
		best, bestLen := "", -1
		for _, x := range invs {
			for _, it := range x.inv.Items {
				if n := commonPrefix(it, v.Item); n > bestLen {
					best, bestLen, v.Candidate = it, n, x.inv
				}
			}
		}
		if v.Candidate != nil {
			v.Why = fmt.Sprintf("its closest item is %q", best)
		}
	}
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// checkCopy: a dead-letter copy names the message as its source and was
// sent no later than the delete; whole, its body is the original's.
func checkCopy(id, body string, whole bool, at time.Time, copies []Message) (Violation, bool) {
	v := Violation{MessageID: id, DeletedAt: at}
	if len(copies) == 0 {
		v.Problem = "deleted as dead-lettered, but no message in the dead-letter queue names it in invalidator.source_message_id"
		return v, true
	}
	var why []string
	for _, c := range copies {
		switch {
		case c.Sent.IsZero():
			why = append(why, fmt.Sprintf("copy %s has no SentTimestamp", c.ID))
		case c.Sent.After(at):
			why = append(why, fmt.Sprintf("copy %s was sent %s after the delete", c.ID, c.Sent.Sub(at)))
		case whole && c.Body != body:
			why = append(why, fmt.Sprintf("copy %s holds %s, not the original body %s", c.ID, Abridge(c.Body, 120), Abridge(body, 120)))
		default:
			return v, false
		}
	}
	v.Problem = "no dead-letter copy justifies the delete: " + strings.Join(why, "; ")
	return v, true
}
