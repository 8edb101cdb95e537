// Package message decodes SQS message bodies from every producer the worker
// serves into invalidation targets: one distribution and its normalized paths
// (and cache tags, as "#tag") per Target.
//
// Formats are recognised by shape, tried in this order:
//
//   - "v1": our own JSON, {"distribution_id": "EDFDVBD6EXAMPLE",
//     "paths": ["/index.html"], "tags": ["product-42"]}, or "distribution"
//     naming an alias or an id, or "distribution_tenant_id" naming a
//     distribution tenant of a multi-tenant distribution (see [Tenant]). An
//     optional "version" must be 1. Unknown fields are ignored so producers
//     can move ahead of the worker.
//   - "sns/…": an SNS Notification envelope (SNS → SQS without raw message
//     delivery) whose "Message" string holds a v1 body or an S3 event.
//   - "s3": S3 event notifications {"Records": [...]} (keys form-encoded), and
//     the s3:TestEvent S3 sends when a notification is configured (ignored).
//   - "eventbridge/s3": S3 "Object Created"/"Object Deleted" events delivered
//     by EventBridge (keys not encoded).
//
// S3 objects become paths through the allow-list: a bucket (and an optional
// key prefix, longest match wins) feeds one or more distributions, whose
// origin path is stripped from the key.
//
// Poison is split from good work as finely as the message allows. A message
// that cannot be used at all is refused with a *Rejection (the caller
// dead-letters the whole body); a message that is partly good yields its
// Targets plus Rejected entries, each carrying its own body to dead-letter,
// written so that it decodes again the same way once the cause is fixed.
// Every Rejection has a Code from the constants below: stable strings used
// as DLQ message attribute values and metric labels.
package message

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"unicode/utf8"
	"unsafe"
)

// Rejection codes. They are part of the worker's outside interface (DLQ
// attributes, metric labels): never rename one.
const (
	CodeMalformed              = "malformed_body"
	CodeMissingDistribution    = "missing_distribution"
	CodeDistributionNotAllowed = "distribution_not_allowed"
	CodeNoPaths                = "no_paths"
	CodeInvalidPath            = "invalid_path"
	CodeInvalidTag             = "invalid_tag"
	CodeTooManyPaths           = "too_many_paths"
	CodeUnmappedBucket         = "unmapped_bucket"
	CodeUnsupported            = "unsupported_format"
	// CodeConflictingTarget: the message names two targets, a distribution
	// ("distribution_id") and a distribution tenant
	// ("distribution_tenant_id"), or a tenant and something else through
	// "distribution". (A "distribution_id" and a "distribution" naming two
	// different distributions is malformed_body, as it was before tenants.)
	CodeConflictingTarget = "conflicting_target"
)

// DefaultMaxPathsPerMessage caps the items (paths + tags, or S3 records) one
// message may carry. CloudFront takes at most 3,000 paths in progress per
// distribution, so a message far beyond that is a producer bug; 10,000 still
// lets a large v1 message through (it is split over several invalidations)
// while bounding the work one SQS body (≤ 1 MiB) can cause.
const DefaultMaxPathsPerMessage = 10000

// reasonValueMax bounds how much of a bad value a Reason quotes.
const reasonValueMax = 100

// idPattern is what a CloudFront distribution id looks like; AllowAll accepts
// any id of this shape.
var idPattern = regexp.MustCompile(`^[A-Z0-9]{1,128}$`)

// Rejection says why a message, or part of one, cannot be invalidated.
type Rejection struct {
	Code           string   // one of the Code constants
	Reason         string   // one human line naming what was wrong
	DistributionID string   // when known; a tenant's parent distribution when TenantID is set
	TenantID       string   // the distribution tenant, when the message named one
	Items          []string // the raw rejected items, for partial rejections
	Body           []byte   // what to dead-letter for a partial rejection; nil = the original body
}

// Error returns "<code>: <reason>".
func (r *Rejection) Error() string { return r.Code + ": " + r.Reason }

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// Target is the work for one distribution, or for one distribution tenant
// of a multi-tenant distribution.
type Target struct {
	// DistributionID is the distribution to invalidate, or, when TenantID
	// is set, the multi-tenant distribution the tenant belongs to.
	DistributionID string
	// TenantID, when set, is the distribution tenant to invalidate (with
	// CreateInvalidationForDistributionTenant rather than CreateInvalidation).
	TenantID string
	Paths    []string // normalized paths and "#tag" items, deduplicated, first-seen order
}

// Key names t's CloudFront resource: the tenant id for a tenant, else the
// distribution id. Keys of different targets never collide: a tenant id is
// never shaped like a distribution id (see [TenantIDProblem]).
func (t Target) Key() string {
	if t.TenantID != "" {
		return t.TenantID
	}
	return t.DistributionID
}

// Decoded is the result of decoding one message.
type Decoded struct {
	Format       string      // "v1", "sns/v1", "s3", "sns/s3", "eventbridge/s3"
	Targets      []Target    // one per distribution
	Rejected     []Rejection // partial rejections, each its own dead-letter message
	Ignore       bool        // nothing to do and nothing wrong (e.g. s3:TestEvent): delete and count
	IgnoreCode   string      // one of the Ignore* codes: a bounded metric label
	IgnoreReason string      // human text for the log
}

// Codes of ignorable messages (Decoded.IgnoreCode).
const (
	// IgnoreTestEvent: the s3:TestEvent S3 sends when notifications are set up.
	IgnoreTestEvent = "s3:TestEvent"
	// IgnoreNoContentChange: S3 records or EventBridge events that leave what
	// CloudFront serves as it was (tagging, ACLs, restores...).
	IgnoreNoContentChange = "no_content_change"
	// IgnoreOutsidePrefix: objects of a mapped bucket outside every
	// configured prefix. A prefix is a filter: notifications for the rest of
	// the bucket are expected, not poison.
	IgnoreOutsidePrefix = "outside_prefix"
)

// S3Source maps objects of Bucket whose key starts with Prefix to a
// distribution. OriginPath is the distribution's origin path (CloudFront
// fetches OriginPath + request path), stripped from keys to get the path.
type S3Source struct{ Bucket, Prefix, OriginPath string }

// Distribution is one allow-listed distribution.
type Distribution struct {
	ID               string
	Aliases          []string
	S3               []S3Source
	IndexDirectories bool // "dir/index.html" also invalidates "/dir/"
}

// Options configure a Decoder.
type Options struct {
	Distributions []Distribution // the allow-list
	// Tenants are the allow-listed distribution tenants. AllowAll does not
	// cover tenants: a tenant must be listed, since a message naming an
	// unlisted one gives no parent distribution to account it to.
	Tenants            []Tenant
	AllowAll           bool // accept any well-formed id (^[A-Z0-9]{1,128}$) even if not listed
	MaxPathsPerMessage int  // 0 means DefaultMaxPathsPerMessage; counts v1 paths+tags, or S3 records
}

// Decoder decodes message bodies against an allow-list. It is immutable
// after NewDecoder and safe for concurrent use.
type Decoder struct {
	ids           map[string]*Distribution
	aliases       map[string]string  // alias → distribution id
	tenants       map[string]*Tenant // tenant id → tenant
	tenantAliases map[string]string  // alias → tenant id
	routes        map[string][]route // bucket → routes, longest prefix first
	allowAll      bool
	max           int
}

// route sends keys under prefix in a bucket to dist.
type route struct {
	prefix, origin string // origin: the origin path without slashes at either end
	dist           *Distribution
}

// NewDecoder checks the allow-list and builds a Decoder. It refuses
// malformed or duplicate ids, empty or duplicate aliases, an alias equal to
// another distribution's or tenant's id, a bucket+prefix mapped twice to the
// same distribution, and malformed tenants (see [Tenant]), reporting every
// problem at once.
func NewDecoder(o Options) (*Decoder, error) {
	d := &Decoder{
		ids:           make(map[string]*Distribution),
		aliases:       make(map[string]string),
		tenants:       make(map[string]*Tenant),
		tenantAliases: make(map[string]string),
		routes:        make(map[string][]route),
		allowAll:      o.AllowAll,
		max:           o.MaxPathsPerMessage,
	}
	var errs []error
	if d.max < 0 {
		errs = append(errs, fmt.Errorf("max paths per message %d: must not be negative", d.max))
	}
	if d.max == 0 {
		d.max = DefaultMaxPathsPerMessage
	}
	// Config order, not map order: it fixes the order of Targets when a
	// bucket feeds several distributions.
	var listed []*Distribution
	for _, dist := range o.Distributions {
		p, err := d.addID(dist)
		listed, errs = append(listed, p), append(errs, err)
	}
	var tenants []*Tenant
	for _, t := range o.Tenants {
		p, err := d.addTenant(t)
		tenants, errs = append(tenants, p), append(errs, err)
	}
	for _, dist := range listed {
		if dist != nil {
			errs = append(errs, d.addAliases(dist), d.addRoutes(dist))
		}
	}
	for _, t := range tenants {
		if t != nil {
			errs = append(errs, d.addTenantAliases(t))
		}
	}
	for _, rs := range d.routes {
		sort.SliceStable(rs, func(i, j int) bool { return len(rs[i].prefix) > len(rs[j].prefix) })
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("message decoder: %w", err)
	}
	return d, nil
}

// addID registers a copy of dist, so later changes to the caller's Options
// cannot reach the Decoder.
func (d *Decoder) addID(dist Distribution) (*Distribution, error) {
	if !idPattern.MatchString(dist.ID) {
		return nil, fmt.Errorf("distribution id %q: want 1-128 characters A-Z, 0-9", dist.ID)
	}
	if _, dup := d.ids[dist.ID]; dup {
		return nil, fmt.Errorf("distribution id %q listed twice", dist.ID)
	}
	dist.Aliases = append([]string(nil), dist.Aliases...)
	dist.S3 = append([]S3Source(nil), dist.S3...)
	d.ids[dist.ID] = &dist
	return &dist, nil
}

func (d *Decoder) addAliases(dist *Distribution) error {
	var errs []error
	for _, a := range dist.Aliases {
		switch other, isID := d.ids[a]; {
		case a == "":
			errs = append(errs, fmt.Errorf("distribution %s: empty alias", dist.ID))
		case isID && other != dist:
			errs = append(errs, fmt.Errorf("distribution %s: alias %q is another distribution's id", dist.ID, a))
		case d.tenants[a] != nil:
			errs = append(errs, fmt.Errorf("distribution %s: alias %q is a tenant's id", dist.ID, a))
		case d.aliases[a] != "":
			errs = append(errs, fmt.Errorf("alias %q used by %s and %s", a, d.aliases[a], dist.ID))
		default:
			d.aliases[a] = dist.ID
		}
	}
	return errors.Join(errs...)
}

func (d *Decoder) addRoutes(dist *Distribution) error {
	var errs []error
	for _, s := range dist.S3 {
		if s.Bucket == "" {
			errs = append(errs, fmt.Errorf("distribution %s: S3 source without a bucket", dist.ID))
			continue
		}
		for _, r := range d.routes[s.Bucket] {
			if r.prefix == s.Prefix && r.dist == dist {
				errs = append(errs, fmt.Errorf("distribution %s: bucket %q prefix %q mapped twice", dist.ID, s.Bucket, s.Prefix))
			}
		}
		r := route{prefix: s.Prefix, origin: trimSlashes(s.OriginPath), dist: dist}
		d.routes[s.Bucket] = append(d.routes[s.Bucket], r)
	}
	return errors.Join(errs...)
}

// Resolve returns the distribution id that nameOrID names: a listed id, an
// alias, or (with AllowAll) any well-formed id. It knows distributions
// only; [Decoder.ResolveTarget] also resolves tenants.
func (d *Decoder) Resolve(nameOrID string) (id string, ok bool) {
	if _, ok := d.ids[nameOrID]; ok {
		return nameOrID, true
	}
	if id, ok := d.aliases[nameOrID]; ok {
		return id, true
	}
	if _, isTenant := d.resolveTenant(nameOrID); isTenant {
		return "", false // a listed tenant's name, even if AllowAll would take it for an id
	}
	return d.resolveID(nameOrID)
}

// resolveID accepts only ids, never aliases.
func (d *Decoder) resolveID(id string) (string, bool) {
	if _, ok := d.ids[id]; ok || d.allowAll && idPattern.MatchString(id) {
		return id, true
	}
	return "", false
}

// Decode decodes one SQS message body. A non-nil error is always a
// *Rejection: the whole message is poison. Decoded.Format is set whenever
// the format was recognised, also alongside an error.
func (d *Decoder) Decode(body []byte) (Decoded, error) {
	out, rej := d.decode(body, false)
	if rej != nil {
		return out, rej
	}
	return out, nil
}

// DecodeString is Decode of a body held as a string (an SQS message's),
// without copying it into a []byte first: the decoder only ever reads its
// input, and what it returns copies from it or (a partial rejection's
// Body) aliases it read-only. It saves the body's copy, one allocation of
// the body's size per message.
func (d *Decoder) DecodeString(body string) (Decoded, error) {
	return d.Decode(unsafe.Slice(unsafe.StringData(body), len(body)))
}

func (d *Decoder) decode(body []byte, viaSNS bool) (Decoded, *Rejection) {
	m, rej := parseObject(body)
	if rej != nil {
		return Decoded{}, rej
	}
	s := shapeOf(m)
	switch {
	case s == shapeV1:
		return d.decodeV1(m)
	case s == shapeS3:
		return d.decodeS3(m)
	case s == shapeUnknown:
		return Decoded{}, reject(CodeMalformed,
			"unrecognized message: not a v1 message, SNS notification, S3 event or EventBridge event")
	case viaSNS:
		return Decoded{}, reject(CodeUnsupported, "SNS notification holding %s is not supported", s)
	case s == shapeSNS:
		return d.decodeSNS(m)
	}
	return d.decodeEventBridge(m)
}

// quote renders an untrusted value for a Reason: quoted, and truncated.
func quote(s string) string {
	if len(s) > reasonValueMax {
		n := reasonValueMax
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func trimSlashes(s string) string {
	for len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
