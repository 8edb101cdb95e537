package statustest

import (
	"time"

	"github.com/acme/cf-invalidator/internal/status"
)

// Payloads are markup and script a snapshot's text may carry (a pause
// reason, a message body, an item, a user agent). Rendered, none may become
// an element or run: each would set window.__xss or add an element with the
// XSSMarker class or id.
var Payloads = []string{
	`<script>window.__xss=1</script>`,
	`"><img src=x onerror="window.__xss=2" class="xss-marker">`,
	`'><svg onload="window.__xss=3" class="xss-marker"></svg>`,
	`</textarea></title><iframe id="xss-marker" src="javascript:window.__xss=4"></iframe>`,
	`javascript:window.__xss=5`,
	"\x1b[31mred\x1b[0m\r\nforged: line",
}

// XSSMarker is the class and id the payloads' elements carry.
const XSSMarker = "xss-marker"

// HostileID is a distribution id made of markup.
const HostileID = `E"><b class="xss-marker">X</b>`

// Hostile is Demo with every free-text field carrying Payloads, a
// distribution whose id is markup, and secret in places a careless provider
// might put one (it must come out redacted).
func Hostile(secret string) status.Snapshot {
	s := Demo()
	p := func(i int) string { return Payloads[i%len(Payloads)] }
	s.Version = p(0)
	for i := range s.Queues {
		s.Queues[i].URL += "?" + p(1)
		s.Queues[i].AttrError = p(2) + " " + secret
	}
	d := &s.Distributions[0]
	d.Aliases = append(d.Aliases, p(0), p(1))
	d.Paused = &status.Pause{Reason: p(0) + p(1), By: p(2), At: s.At.Add(-time.Minute)}
	d.Batch.Sample = []string{p(0), p(1), p(2), p(3), p(4), "/sixth-is-cut"}
	d.Waiting = append(d.Waiting, status.Wait{Code: p(1), Text: p(0) + p(3)})
	d.View.Error = p(3) + " token=" + secret
	d.Spend.Source = p(2)
	d.InProgress[0].Sample = []string{p(0), p(1), p(2)}
	d.InProgress[1].ID = p(1)
	d.Recent[0].Sample = []string{p(3), p(4)}
	s.Distributions = append(s.Distributions, status.Distribution{
		ID: HostileID, Aliases: []string{p(2)}, Kind: "tenant", Parent: p(1),
		Paused: &status.Pause{Reason: p(3), By: p(5), At: s.At},
		Quota:  status.Quota{MaxFiles: 3000, MaxWildcards: 15},
		Spend:  status.Spend{State: "unknown", Source: p(0)},
	})
	r := &s.DeadLettered.ByReason[0]
	r.Code = p(1)
	r.Examples[0].Body = p(0) + p(1) + p(2)
	r.Examples[0].Reason = p(3) + " Bearer " + secret
	r.Examples[1].MessageID = p(2)
	s.Errors[0].Class = p(0)
	s.Errors[0].Sample = p(1) + " Authorization: Bearer " + secret
	s.Actions = append([]status.Action{{At: s.At, Action: "pause", Target: p(1), By: p(0), Reason: p(2) + secret, Result: p(3)}}, s.Actions...)
	return s
}
