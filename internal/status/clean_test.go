package status

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestConsoleCleanTruncatesAndRedacts(t *testing.T) {
	const secret = "s3cret-admin-token"
	long := strings.Repeat("x", 500)
	s := Snapshot{
		Version: "v1",
		Queues:  []Queue{{URL: "https://sqs/q", AttrError: "denied " + secret}},
		Distributions: []Distribution{{
			ID:     "E1",
			Paused: &Pause{Reason: long, By: secret},
			Batch:  Batch{Sample: []string{"/1", "/2", "/3", "/4", "/5", "/6", "/7"}},
			View:   View{Error: "auth " + secret + " " + long},
			InProgress: []Invalidation{{
				ID: "I1", Sample: []string{long},
			}},
		}},
		DeadLettered: DeadLetters{ByReason: []ReasonCount{{Code: "invalid_path", Examples: []Example{
			{Body: long}, {Body: "b"}, {Body: "c"}, {Body: "d"},
		}}}},
		Errors:  []ErrorClass{{Class: "c", Sample: "Bearer " + secret}},
		Actions: []Action{{Reason: secret + long}},
	}
	orig, _ := json.Marshal(s)
	c := Clean(s, secret, "")
	if after, _ := json.Marshal(s); string(after) != string(orig) {
		t.Fatal("Clean modified its argument")
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), secret) {
		t.Fatalf("the secret survived Clean: %s", b)
	}
	if !strings.Contains(string(b), Redacted) {
		t.Fatalf("no %s marker: %s", Redacted, b)
	}
	d := c.Distributions[0]
	if len(d.Batch.Sample) != SampleItems {
		t.Errorf("batch sample has %d items, want %d", len(d.Batch.Sample), SampleItems)
	}
	if n := utf8.RuneCountInString(d.InProgress[0].Sample[0]); n != SampleLen {
		t.Errorf("item cut to %d characters, want %d", n, SampleLen)
	}
	if n := utf8.RuneCountInString(d.Paused.Reason); n != MaxReason {
		t.Errorf("reason cut to %d, want %d", n, MaxReason)
	}
	if n := utf8.RuneCountInString(d.View.Error); n != SampleLen {
		t.Errorf("view error cut to %d, want %d", n, SampleLen)
	}
	ex := c.DeadLettered.ByReason[0].Examples
	if len(ex) != MaxExamples || utf8.RuneCountInString(ex[0].Body) != SampleLen {
		t.Errorf("examples: %d, first body %d characters; want %d and %d", len(ex), utf8.RuneCountInString(ex[0].Body), MaxExamples, SampleLen)
	}
	// Arrays the schema requires are [] when the provider left them nil.
	if c.Alerts == nil || c.Distributions[0].Waiting == nil || c.Distributions[0].Recent == nil {
		t.Errorf("nil slices left: alerts %v waiting %v recent %v", c.Alerts, c.Distributions[0].Waiting, c.Distributions[0].Recent)
	}
}

func TestConsoleAlerts(t *testing.T) {
	at := time.Date(2026, 5, 14, 10, 0, 0, 0, time.UTC)
	base := func() Snapshot {
		return Snapshot{At: at, Ready: true, Window: D(10 * time.Second), Distributions: []Distribution{{ID: "E1"}}}
	}
	codes := func(s Snapshot) string {
		var out []string
		for _, a := range Alerts(s, Thresholds{}) {
			out = append(out, a.Level+":"+a.Code+":"+a.Target)
		}
		return strings.Join(out, " ")
	}
	for name, c := range map[string]struct {
		edit func(*Snapshot)
		want string
	}{
		"calm":             {func(*Snapshot) {}, ""},
		"within 3 windows": {func(s *Snapshot) { s.Distributions[0].Batch.Oldest = D(30 * time.Second) }, ""},
		"over 3 windows":   {func(s *Snapshot) { s.Distributions[0].Batch.Oldest = D(31 * time.Second) }, "warn:long_wait:E1"},
		"over 30 windows":  {func(s *Snapshot) { s.Distributions[0].Batch.Oldest = D(301 * time.Second) }, "crit:long_wait:E1"},
		"default window": {func(s *Snapshot) {
			s.Window = nil
			s.Distributions[0].Batch.Oldest = D(31 * time.Second)
		}, "warn:long_wait:E1"},
		"near max_hold": {func(s *Snapshot) {
			s.Distributions[0].MaxHold = D(time.Minute)
			s.Distributions[0].Batch.Oldest = D(45 * time.Second)
		}, "crit:near_max_hold:E1"},
		"view error": {func(s *Snapshot) { s.Distributions[0].View.Error = "AccessDenied" }, "crit:view_error:E1"},
		"paused briefly": {func(s *Snapshot) {
			s.Distributions[0].Paused = &Pause{At: at.Add(-time.Minute)}
		}, ""},
		"paused long": {func(s *Snapshot) {
			s.Distributions[0].Paused = &Pause{At: at.Add(-16 * time.Minute), Reason: "deploy"}
		}, "warn:paused_long:E1"},
		"over budget":            {func(s *Snapshot) { s.Distributions[0].Spend.State = "over" }, "crit:over_budget:E1"},
		"account near":           {func(s *Snapshot) { s.Account.State = "near" }, "warn:near_budget:"},
		"unknown without budget": {func(s *Snapshot) { s.Account.State = "unknown" }, ""},
		"unknown with budget": {func(s *Snapshot) {
			s.Account.State, s.Account.BudgetUSD = "unknown", 10
		}, "warn:budget_unknown:"},
		"shared dlq once": {func(s *Snapshot) {
			dlq := &DeadLetterQ{URL: "https://sqs/dlq", Visible: new(int)}
			*dlq.Visible = 3
			s.Queues = []Queue{{URL: "https://sqs/a", DLQ: dlq}, {URL: "https://sqs/b", DLQ: dlq}}
		}, "warn:dlq_depth:https://sqs/dlq"},
		"empty dlq": {func(s *Snapshot) {
			s.Queues = []Queue{{URL: "https://sqs/a", DLQ: &DeadLetterQ{URL: "d", Visible: new(int)}}}
		}, ""},
		"recent error": {func(s *Snapshot) {
			s.Errors = []ErrorClass{{Class: "sqs:ReceiveMessage", Count: 2, Last: at.Add(-time.Minute)}, {Class: "old", Last: at.Add(-time.Hour)}}
		}, "warn:errors:sqs:ReceiveMessage"},
		"not ready": {func(s *Snapshot) { s.Ready = false }, "warn:not_ready:"},
		"draining":  {func(s *Snapshot) { s.Ready, s.Draining = false, true }, "info:draining:"},
		"worst first": {func(s *Snapshot) {
			s.Ready = false
			s.Distributions[0].View.Error = "x"
		}, "crit:view_error:E1 warn:not_ready:"},
	} {
		t.Run(name, func(t *testing.T) {
			s := base()
			c.edit(&s)
			if got := codes(s); got != c.want {
				t.Errorf("alerts %q, want %q", got, c.want)
			}
		})
	}
}
