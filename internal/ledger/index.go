package ledger

import (
	"slices"
	"time"

	"github.com/acme/cf-invalidator/internal/paths"
)

// index remembers recent invalidations of a target for messages that
// arrive after them (a redelivery after a crash, a backlog drained over
// many windows): an item whose message was sent before a remembered
// invalidation covering it was created needs nothing more. It keeps, per
// item and per wildcard prefix, the latest send an invalidation holding it
// is known to come after (Invalidation.covers), which is all the coverage
// rule needs.
type index struct {
	exact   map[string]stamp // item → latest covers of an invalidation holding it
	wild    map[string]stamp // wildcard prefix ("/img/" of "/img/*") → latest covers
	lengths map[int]int      // prefix length → how many prefixes of wild have it
	sorted  []int            // the keys of lengths, ascending; rebuilt when they change
	kept    []remembered     // by Created, oldest first
	ids     map[string]bool  // ids kept, so an invalidation seen twice counts once
	size    int              // items kept
}

type remembered struct {
	id      string
	created time.Time
	covers  stamp
	items   []string
}

func newIndex() index {
	return index{exact: map[string]stamp{}, wild: map[string]stamp{}, lengths: map[int]int{}, ids: map[string]bool{}}
}

// add remembers v, which covers messages sent (lag included) before covers,
// unless it is older than horizon, then forgets the oldest invalidations
// while they are older than horizon or more than max items are kept.
func (x *index) add(v Invalidation, covers stamp, horizon time.Time, max int) {
	if v.Created.Before(horizon) || (v.ID != "" && x.ids[v.ID]) {
		x.expire(horizon, max)
		return
	}
	if v.ID != "" {
		x.ids[v.ID] = true
	}
	r := remembered{id: v.ID, created: v.Created, covers: covers, items: v.Items}
	i, _ := slices.BinarySearchFunc(x.kept, r, func(a, b remembered) int { return a.created.Compare(b.created) })
	x.kept = slices.Insert(x.kept, i, r)
	x.size += len(v.Items)
	for _, key := range v.Items {
		if pre, ok := wildcardPrefix(key); ok {
			if at, seen := x.wild[pre]; !seen || covers > at {
				if !seen {
					x.lengths[len(pre)]++
					x.sorted = nil
				}
				x.wild[pre] = covers
			}
			continue
		}
		if at, seen := x.exact[key]; !seen || covers > at {
			x.exact[key] = covers
		}
	}
	x.expire(horizon, max)
}

func (x *index) expire(horizon time.Time, max int) {
	for len(x.kept) > 0 && (x.kept[0].created.Before(horizon) || x.size > max) {
		r := x.kept[0]
		x.kept = x.kept[1:]
		x.size -= len(r.items)
		delete(x.ids, r.id)
		for _, key := range r.items {
			if pre, ok := wildcardPrefix(key); ok {
				if at := x.wild[pre]; at <= r.covers {
					delete(x.wild, pre)
					if x.lengths[len(pre)]--; x.lengths[len(pre)] == 0 {
						delete(x.lengths, len(pre))
					}
					x.sorted = nil
				}
				continue
			}
			if at, ok := x.exact[key]; ok && at <= r.covers {
				delete(x.exact, key)
			}
		}
	}
}

// latest returns the latest covers of a remembered invalidation covering
// key (zero if none).
func (x *index) latest(key string) stamp {
	at := x.exact[key]
	if len(x.wild) == 0 || paths.IsTag(key) {
		return at
	}
	if x.sorted == nil {
		for n := range x.lengths {
			x.sorted = append(x.sorted, n)
		}
		slices.Sort(x.sorted)
	}
	for _, n := range x.sorted {
		if n > len(key) {
			break
		}
		if w, ok := x.wild[key[:n]]; ok && w > at {
			at = w
		}
	}
	return at
}

// coveredAfter reports whether a remembered invalidation known to come
// after a send at sent (lag included) covers key.
func (x *index) coveredAfter(key string, sent stamp) bool {
	if len(x.kept) == 0 {
		return false
	}
	return x.latest(key) > sent
}

// wildcardPrefix returns the prefix a wildcard path covers.
func wildcardPrefix(key string) (string, bool) {
	if paths.IsTag(key) || !paths.IsWildcard(key) {
		return "", false
	}
	return key[:len(key)-1], true
}
