package message

import (
	"errors"
	"fmt"
)

// Tenant is one allow-listed distribution tenant of a multi-tenant
// distribution (CloudFront SaaS Manager). A message names it by
// "distribution_tenant_id" (its id or an alias) or by "distribution" (an
// alias or its id); its Target has TenantID set and DistributionID holding
// Distribution.
type Tenant struct {
	ID           string   // the tenant id, e.g. "dt_2wjDZi3hD1ivOXf6rpZJO1AB"; see TenantIDProblem
	Aliases      []string // names a message may use instead of the id, unique across distributions and tenants
	Distribution string   // the id of the multi-tenant distribution the tenant belongs to
}

// MaxTenantIDLen is the longest distribution tenant id. The API model
// (botocore 1.43, aws-sdk-go-v2/service/cloudfront v1.73.0) gives the
// tenant id members of CreateInvalidationForDistributionTenant,
// GetInvalidationForDistributionTenant and
// ListInvalidationsForDistributionTenant the plain "string" shape:
// required, no pattern, no length. The current CloudFront API Reference
// (API_ListInvalidationsForDistributionTenant, the Id URI parameter) says
// "Length Constraints: Minimum length of 1. Maximum length of 64." The
// "dt_" prefix appears only in AWS's examples ("dt_2wjDZi3hD1ivOXf6rpZJO1AB"),
// so it is not required.
const MaxTenantIDLen = 64

// TenantIDProblem says what is wrong with id as a distribution tenant id,
// or returns "" when it is fine. Beyond the 1-64 characters of the API
// Reference (see MaxTenantIDLen) an id must be one URI path segment as it
// stands — printable ASCII without "/", "?", "#" or "%", so no space or
// control character — because the SDK puts it in the request path
// (/2020-05-31/distribution-tenant/{Id}/invalidation), where escaping must
// not turn it into another resource; the CloudFront simulator (internal/cfsim)
// applies the same rule. It must also not look like a distribution id
// (^[A-Z0-9]+$): a message's "distribution" may name either, and with
// allow_all_distributions such a name is taken for a distribution.
func TenantIDProblem(id string) string {
	switch {
	case id == "":
		return "empty"
	case len(id) > MaxTenantIDLen:
		return fmt.Sprintf("%d characters, more than the %d CloudFront allows", len(id), MaxTenantIDLen)
	case idPattern.MatchString(id):
		return "shaped like a distribution id (upper-case letters and digits only); tenant ids look like dt_2wjDZi3hD1ivOXf6rpZJO1AB"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%' {
			return fmt.Sprintf("character %q not allowed: a tenant id is one URI path segment (printable ASCII other than '/', '?', '#', '%%')", rune(c))
		}
	}
	return ""
}

// addTenant registers a copy of t.
func (d *Decoder) addTenant(t Tenant) (*Tenant, error) {
	var errs []error
	if p := TenantIDProblem(t.ID); p != "" {
		errs = append(errs, fmt.Errorf("tenant id %q: %s", t.ID, p))
	} else if _, dup := d.tenants[t.ID]; dup {
		errs = append(errs, fmt.Errorf("tenant id %q listed twice", t.ID))
	}
	if !idPattern.MatchString(t.Distribution) {
		errs = append(errs, fmt.Errorf("tenant %q: distribution %q: want the id of its multi-tenant distribution, 1-128 characters A-Z, 0-9", t.ID, t.Distribution))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.Aliases = append([]string(nil), t.Aliases...)
	d.tenants[t.ID] = &t
	return &t, nil
}

func (d *Decoder) addTenantAliases(t *Tenant) error {
	var errs []error
	for _, a := range t.Aliases {
		switch other, isTenant := d.tenants[a]; {
		case a == "":
			errs = append(errs, fmt.Errorf("tenant %s: empty alias", t.ID))
		case isTenant && other != t:
			errs = append(errs, fmt.Errorf("tenant %s: alias %q is another tenant's id", t.ID, a))
		case d.ids[a] != nil:
			errs = append(errs, fmt.Errorf("tenant %s: alias %q is a distribution's id", t.ID, a))
		case d.aliases[a] != "":
			errs = append(errs, fmt.Errorf("tenant %s: alias %q is an alias of distribution %s", t.ID, a, d.aliases[a]))
		case d.tenantAliases[a] != "":
			errs = append(errs, fmt.Errorf("alias %q used by tenants %s and %s", a, d.tenantAliases[a], t.ID))
		default:
			d.tenantAliases[a] = t.ID
		}
	}
	return errors.Join(errs...)
}

// resolveTenant returns the tenant that nameOrID names: a listed tenant's
// id or one of its aliases. Tenants are never allowed by AllowAll.
func (d *Decoder) resolveTenant(nameOrID string) (*Tenant, bool) {
	if t, ok := d.tenants[nameOrID]; ok {
		return t, true
	}
	if id, ok := d.tenantAliases[nameOrID]; ok {
		return d.tenants[id], true
	}
	return nil, false
}

// ResolveTarget returns the target (without paths) that a message's
// "distribution" member names: a listed distribution's id or alias, a
// listed tenant's id or alias, or, with AllowAll, any well-formed
// distribution id. Listed names win over AllowAll, so an alias that happens
// to look like an id still names its distribution or tenant.
func (d *Decoder) ResolveTarget(name string) (Target, bool) {
	if _, ok := d.ids[name]; ok {
		return Target{DistributionID: name}, true
	}
	if id, ok := d.aliases[name]; ok {
		return Target{DistributionID: id}, true
	}
	if t, ok := d.resolveTenant(name); ok {
		return Target{DistributionID: t.Distribution, TenantID: t.ID}, true
	}
	if id, ok := d.resolveID(name); ok {
		return Target{DistributionID: id}, true
	}
	return Target{}, false
}

// EncodeV1Target is [EncodeV1] for any target: a tenant's items are written
// under "distribution_tenant_id", so they decode to the same tenant again.
func EncodeV1Target(t Target, items []string) []byte {
	if t.TenantID == "" {
		return EncodeV1(t.DistributionID, items)
	}
	return encodeV1(v1Body{TenantID: t.TenantID}, items)
}
