package message

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/acme/cf-invalidator/internal/paths"
)

// v1Body is the v1 wire format as EncodeV1 writes it.
type v1Body struct {
	DistributionID string   `json:"distribution_id,omitempty"`
	TenantID       string   `json:"distribution_tenant_id,omitempty"`
	Paths          []string `json:"paths,omitempty"`
	Tags           []string `json:"tags,omitempty"`
}

// EncodeV1 returns a v1 body for items: items starting with "#" go to "tags"
// (without the "#"), the rest to "paths", unchanged. Decoding it gives the
// same items back, which is what makes dead-lettered parts redrivable.
// [EncodeV1Target] does the same for a distribution tenant.
func EncodeV1(distributionID string, items []string) []byte {
	return encodeV1(v1Body{DistributionID: distributionID}, items)
}

func encodeV1(msg v1Body, items []string) []byte {
	for _, it := range items {
		if paths.IsTag(it) {
			msg.Tags = append(msg.Tags, strings.TrimPrefix(it, "#"))
		} else {
			msg.Paths = append(msg.Paths, it)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<", ">", "&" readable in the DLQ
	_ = enc.Encode(msg)      // strings only: cannot fail
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// v1Msg is a parsed v1 message, before any item is checked.
type v1Msg struct {
	id, tenant, name string // "distribution_id", "distribution_tenant_id", "distribution"
	paths, tags      []string
}

func (d *Decoder) decodeV1(m object) (Decoded, *Rejection) {
	out := Decoded{Format: "v1"}
	msg, rej := parseV1(m)
	if rej != nil {
		return out, rej
	}
	target, rej := d.v1Target(msg)
	if rej != nil {
		return out, rej
	}
	t, rejected, rej := d.v1Items(target, msg.paths, msg.tags)
	if rej != nil {
		rej.DistributionID, rej.TenantID = target.DistributionID, target.TenantID
		return out, rej
	}
	out.Targets, out.Rejected = []Target{t}, rejected
	return out, nil
}

func parseV1(m object) (v1Msg, *Rejection) {
	var msg v1Msg
	if rej := checkVersion(m); rej != nil {
		return msg, rej
	}
	var rejs [5]*Rejection
	msg.id, rejs[0] = m.str("distribution_id")
	msg.tenant, rejs[1] = m.str("distribution_tenant_id")
	msg.name, rejs[2] = m.str("distribution")
	msg.paths, rejs[3] = m.strs("paths")
	msg.tags, rejs[4] = m.strs("tags")
	for _, r := range rejs {
		if r != nil {
			return msg, r
		}
	}
	return msg, nil
}

// checkVersion accepts a missing or null "version", or the number 1.
func checkVersion(m object) *Rejection {
	if !m.present("version") {
		return nil
	}
	var v any
	if err := json.Unmarshal(m.val("version"), &v); err != nil || v != float64(1) {
		return reject(CodeUnsupported, "v1 message with version %s: only version 1 is supported",
			quote(string(m.val("version"))))
	}
	return nil
}

// v1Target resolves "distribution_id" (an id), "distribution_tenant_id" (a
// tenant's id or alias) and "distribution" (an alias or id of either). A
// message names one target: a distribution or a tenant, never both; when
// "distribution" is given with one of the others they must agree.
func (d *Decoder) v1Target(msg v1Msg) (Target, *Rejection) {
	switch {
	case msg.id == "" && msg.tenant == "" && msg.name == "":
		return Target{}, reject(CodeMissingDistribution, `none of "distribution_id", "distribution_tenant_id" and "distribution" is set`)
	case msg.id != "" && msg.tenant != "":
		return Target{}, reject(CodeConflictingTarget,
			"distribution_id %s and distribution_tenant_id %s are both set: a message names a distribution or one of its tenants, not both",
			quote(msg.id), quote(msg.tenant))
	}
	var byField Target
	field, value := "", ""
	switch {
	case msg.id != "":
		id, ok := d.resolveID(msg.id)
		if !ok {
			return Target{}, notAllowed("distribution_id", msg.id)
		}
		byField, field, value = Target{DistributionID: id}, "distribution_id", msg.id
	case msg.tenant != "":
		t, rej := d.v1Tenant(msg.tenant)
		if rej != nil {
			return Target{}, rej
		}
		byField, field, value = t, "distribution_tenant_id", msg.tenant
	}
	if msg.name == "" {
		return byField, nil
	}
	byName, ok := d.ResolveTarget(msg.name)
	switch {
	case !ok:
		return Target{}, notAllowed("distribution", msg.name)
	case field == "" || byName.Key() == byField.Key():
		return byName, nil
	case byName.TenantID == "" && byField.TenantID == "":
		return Target{}, reject(CodeMalformed, "distribution_id %s and distribution %s name different distributions",
			quote(msg.id), quote(msg.name))
	}
	return Target{}, reject(CodeConflictingTarget, "%s %s and distribution %s name different targets (%s and %s)",
		field, quote(value), quote(msg.name), describeTarget(byField), describeTarget(byName))
}

// v1Tenant resolves "distribution_tenant_id". Only listed tenants are
// allowed; a name of a distribution gets a reason saying so.
func (d *Decoder) v1Tenant(name string) (Target, *Rejection) {
	if t, ok := d.resolveTenant(name); ok {
		return Target{DistributionID: t.Distribution, TenantID: t.ID}, nil
	}
	rej := reject(CodeDistributionNotAllowed, "distribution_tenant_id %s is not in the allow-list (tenants)", quote(name))
	if other, ok := d.ResolveTarget(name); ok {
		rej.Reason += fmt.Sprintf(": it names distribution %s, send it as \"distribution_id\" or \"distribution\"", other.DistributionID)
	}
	return Target{}, rej
}

func describeTarget(t Target) string {
	if t.TenantID != "" {
		return fmt.Sprintf("tenant %s of distribution %s", t.TenantID, t.DistributionID)
	}
	return "distribution " + t.DistributionID
}

func notAllowed(field, value string) *Rejection {
	return reject(CodeDistributionNotAllowed, "%s %s is not in the allow-list", field, quote(value))
}

// v1Items checks every path and tag. Valid items form the target; invalid
// ones come back as one partial Rejection per kind, unless nothing is
// valid, when the whole message is refused.
func (d *Decoder) v1Items(target Target, rawPaths, rawTags []string) (Target, []Rejection, *Rejection) {
	n := len(rawPaths) + len(rawTags)
	switch {
	case n == 0:
		return Target{}, nil, reject(CodeNoPaths, "no paths and no tags")
	case n > d.max:
		return Target{}, nil, reject(CodeTooManyPaths, "%d paths and tags, more than the limit of %d", n, d.max)
	}
	good := itemSet{items: make([]string, 0, n)} // n is bounded by d.max above
	var bad [2]badItems                          // 0: paths, 1: tags
	for _, raw := range rawPaths {
		if paths.IsTag(strings.TrimSpace(raw)) { // "#tag" in "paths" is a tag, as in EncodeV1
			bad[1].add(good.addTag(raw))
			continue
		}
		bad[0].add(good.addPath(raw))
	}
	for _, raw := range rawTags {
		bad[1].add(good.addTag(raw))
	}
	if len(good.items) == 0 {
		return Target{}, nil, allInvalid(bad)
	}
	target.Paths = good.items
	return target, partial(target, n, bad), nil
}

// allInvalid is the whole-message rejection when no item was valid.
func allInvalid(bad [2]badItems) *Rejection {
	rej := bad[0].rejection(CodeInvalidPath, "path", 0)
	if rej == nil {
		return bad[1].rejection(CodeInvalidTag, "tag", 0)
	}
	if tags := bad[1].rejection(CodeInvalidTag, "tag", 0); tags != nil {
		rej.Reason += "; " + tags.Reason
		rej.Items = append(rej.Items, tags.Items...)
	}
	return rej
}

// partial returns the partial rejections, each with a v1 body of its items.
func partial(t Target, n int, bad [2]badItems) []Rejection {
	var out []Rejection
	for i, kind := range [2]struct{ code, noun string }{{CodeInvalidPath, "path"}, {CodeInvalidTag, "tag"}} {
		if rej := bad[i].rejection(kind.code, kind.noun, n); rej != nil {
			rej.DistributionID, rej.TenantID, rej.Body = t.DistributionID, t.TenantID, EncodeV1Target(t, rej.Items)
			out = append(out, *rej)
		}
	}
	return out
}

// itemSet collects valid items, deduplicated in first-seen order.
type itemSet struct {
	items []string
	seen  map[string]bool // built once there are more than linearItems
}

// linearItems: up to this many items a linear search finds duplicates
// faster than a map, and allocates nothing (most messages name a few paths).
const linearItems = 16

func (s *itemSet) add(item string) {
	if s.seen == nil && len(s.items) < linearItems {
		for _, it := range s.items {
			if it == item {
				return
			}
		}
		s.items = append(s.items, item)
		return
	}
	if s.seen == nil {
		s.seen = make(map[string]bool, 2*len(s.items))
		for _, it := range s.items {
			s.seen[it] = true
		}
	}
	if !s.seen[item] {
		s.seen[item] = true
		s.items = append(s.items, item)
	}
}

// addPath adds raw if it normalizes, else returns it as a bad item.
func (s *itemSet) addPath(raw string) badItem {
	p, err := paths.Normalize(raw)
	if err != nil {
		return badItem{raw, err}
	}
	s.add(p)
	return badItem{}
}

// addTag adds raw if it is a valid tag. A bad tag is returned in item form
// ("#name"), so that EncodeV1 files it under "tags" again.
func (s *itemSet) addTag(raw string) badItem {
	tag, err := paths.NormalizeTag(raw)
	if err != nil {
		item := strings.TrimSpace(raw)
		if !paths.IsTag(item) {
			item = "#" + item
		}
		return badItem{item, err}
	}
	s.add(tag)
	return badItem{}
}

type badItem struct {
	item string
	err  error // nil: not bad
}

// badItems collects invalid items of one kind and the first error.
type badItems struct {
	items []string
	first error
}

func (b *badItems) add(it badItem) {
	if it.err == nil {
		return
	}
	if b.first == nil {
		b.first = it.err
	}
	b.items = append(b.items, it.item)
}

// rejection describes b, or returns nil when b is empty. total > 0 names how
// many items the message had.
func (b *badItems) rejection(code, noun string, total int) *Rejection {
	if len(b.items) == 0 {
		return nil
	}
	count := fmt.Sprintf("%d invalid %s(s)", len(b.items), noun)
	if total > 0 {
		count += fmt.Sprintf(" of %d item(s)", total)
	}
	return &Rejection{Code: code, Reason: count + "; first: " + b.first.Error(), Items: b.items}
}
