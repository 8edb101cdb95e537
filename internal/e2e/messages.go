package e2e

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Msg is a message a test sends and the normalized items (paths and #tags)
// it must get invalidated for its distribution.
type Msg struct {
	Dist  string   // distribution id the items belong to
	Body  string   // what is sent
	Items []string // normalized items that must be covered
	// Tenant is the distribution tenant (of Dist) the message names, ""
	// for none: its items must be covered by the tenant's invalidations.
	Tenant string
}

// Target is the key its items are covered under: Tenant, else Dist (see
// [Invalidation.Target]).
func (m Msg) Target() string {
	if m.Tenant != "" {
		return m.Tenant
	}
	return m.Dist
}

// V1 builds a v1 body naming the distribution by id ("distribution_id") or,
// with byName, by "distribution" (an alias).
func V1(byName bool, name string, paths ...string) string {
	m := map[string]any{"paths": paths}
	if byName {
		m["distribution"] = name
	} else {
		m["distribution_id"] = name
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// Plain is a v1 message naming distribution dist by id, whose paths need no
// normalizing.
func Plain(dist string, paths ...string) Msg {
	return Msg{Dist: dist, Body: V1(false, dist, paths...), Items: paths}
}

// Bodies returns the bodies of ms.
func Bodies(ms []Msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Body
	}
	return out
}

// WantByDist is the union of the messages' items per target ([Msg.Target]:
// per distribution, a tenant's apart).
func WantByDist(ms []Msg) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		k := m.Target()
		for _, p := range m.Items {
			if !slices.Contains(out[k], p) {
				out[k] = append(out[k], p)
			}
		}
	}
	return out
}

// SendMessages sends every message's body (SendMessageBatch, 10 a call) and
// returns what each MessageId must get invalidated before it is deleted.
func SendMessages(t testing.TB, c *sqs.Client, queueURL string, ms []Msg) Wants {
	t.Helper()
	ids := SendBodies(t, c, queueURL, Bodies(ms))
	wants := Wants{}
	for i, id := range ids {
		wants[id] = Want{Dist: ms[i].Dist, Tenant: ms[i].Tenant, Items: ms[i].Items}
	}
	return wants
}
