package statustest

import (
	"time"

	"github.com/acme/cf-invalidator/internal/status"
)

// Demo ids.
const (
	Burst = "E2QWRUHEXAMPLE" // under a quota burst: files 2,850/3,000 in progress
	Calm  = "E1B2C3D4EXAMPLE"
	// OthersInvalidation and OwnInvalidation are Burst's in progress.
	OthersInvalidation = "I2J5ZQ8KEXAMPLE"
	OwnInvalidation    = "I3KD7XWMEXAMPLE"
	CalmInvalidation   = "I9PLQ4RTEXAMPLE"

	QueueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/invalidations"
	BulkURL  = "https://sqs.us-east-1.amazonaws.com/123456789012/invalidations-bulk"
	DLQURL   = "https://sqs.us-east-1.amazonaws.com/123456789012/invalidations-dlq"
)

// DemoAt is the demo snapshot's time.
var DemoAt = time.Date(2026, 5, 14, 10, 42, 17, 0, time.UTC)

func ip(n int) *int { return &n }

// Demo is a realistic snapshot: two distributions, one (Burst) under a quota
// burst with an own and someone else's invalidation in progress and held
// messages waiting for quota, one (Calm) collecting its window; a live and a
// bulk queue; dead letters by reason; a quota error class; past actions.
func Demo() status.Snapshot {
	at := DemoAt
	ago := func(d time.Duration) time.Time { return at.Add(-d) }
	month := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	source := "ledger: every invalidation of the month, own and others' (ListInvalidations)"
	return status.Snapshot{
		Schema:  status.SchemaVersion,
		At:      at,
		Version: "v1.6.0",
		Started: ago(3*time.Hour + 12*time.Minute),
		Ready:   true,
		Window:  status.D(10 * time.Second),
		Queues: []status.Queue{
			{
				URL: QueueURL, Lane: "live", Pollers: 4, Visible: ip(182), InFlight: ip(40), AttributesAt: ago(4 * time.Second),
				OldestAge: status.D(2*time.Minute + 41*time.Second), DLQ: &status.DeadLetterQ{URL: DLQURL, Visible: ip(6)},
				Held: 40, Received: 18204, Deleted: 18158,
			},
			{
				URL: BulkURL, Lane: "bulk", Pollers: 1, Visible: ip(2400), InFlight: ip(0), AttributesAt: ago(4 * time.Second),
				DLQ: &status.DeadLetterQ{URL: DLQURL, Visible: ip(6)}, Received: 310, Deleted: 310,
			},
		},
		Distributions: []status.Distribution{
			{
				ID: Burst, Aliases: []string{"www", "shop"}, Kind: "distribution", MaxHold: status.D(time.Hour),
				Batch: status.Batch{
					Held: 37, Items: 1240, Oldest: status.D(2*time.Minute + 40*time.Second), NextFlush: at.Add(25 * time.Second),
					Sample: []string{"/products/4711", "/products/4712", "/category/shoes/", "#product-42", "/img/hero-2026.jpg"},
				},
				Waiting: []status.Wait{{
					Code: "quota", Until: at.Add(25 * time.Second),
					Text: "1,240 items wait for room: 2,850 of 3,000 files in progress (850 ours, 2,000 someone else's) and 100 kept for people leave 50",
				}},
				Quota: status.Quota{Files: 2850, OwnFiles: 850, Wildcards: 4, OwnWildcards: 1, MaxFiles: 3000, MaxWildcards: 15, ReserveFiles: 100, ReserveWildcards: 2},
				View:  status.View{Age: status.D(1800 * time.Millisecond)},
				Spend: status.Spend{
					Month: month, Paths: 1640, Exact: true, Source: source, AsOf: ago(40 * time.Second),
					FreePaths: 1000, USD: 4.20, BudgetUSD: 25, State: "under", Remaining: ip(4160),
				},
				InProgress: []status.Invalidation{
					{
						ID: OwnInvalidation, Status: "InProgress", Created: ago(18 * time.Second), Items: 850, Origin: "own", Messages: 212,
						Sample: []string{"/products/summer/*", "/products/4690", "/products/4691", "/products/4692", "/products/4693"},
					},
					{
						ID: OthersInvalidation, Status: "InProgress", Created: ago(65 * time.Second), Items: 2000, Origin: "other",
						Sample: []string{"/assets/css/site.css", "/assets/js/app.js", "/assets/img/logo.svg", "/fonts/inter.woff2", "/about"},
					},
				},
				Recent: []status.Invalidation{
					{ID: OwnInvalidation, Status: "InProgress", Created: ago(18 * time.Second), Items: 850, Origin: "own", Messages: 212, Collapsed: true},
					{ID: "I7VB2NQXEXAMPLE", Status: "Completed", Created: ago(4 * time.Minute), Completed: ago(4*time.Minute - 19*time.Second), Latency: status.D(19 * time.Second), Items: 1200, Origin: "own", Messages: 340},
					{ID: "I4HT6LPZEXAMPLE", Status: "Completed", Created: ago(6 * time.Minute), Completed: ago(6*time.Minute - 22*time.Second), Latency: status.D(22 * time.Second), Items: 96, Origin: "own", Messages: 41},
				},
			},
			{
				ID: Calm, Aliases: []string{"blog"}, Kind: "distribution", MaxHold: status.D(time.Hour),
				Batch: status.Batch{
					Held: 3, Items: 14, Oldest: status.D(4 * time.Second), NextFlush: at.Add(6 * time.Second),
					Sample: []string{"/2026/05/launch-notes", "/2026/05/", "/feed.xml", "/tags/release/", "/"},
				},
				Waiting: []status.Wait{{Code: "window", Text: "collecting for the 10s window", Until: at.Add(6 * time.Second)}},
				Quota:   status.Quota{Files: 12, OwnFiles: 12, Wildcards: 1, OwnWildcards: 1, MaxFiles: 3000, MaxWildcards: 15, ReserveFiles: 100, ReserveWildcards: 2},
				View:    status.View{Age: status.D(3200 * time.Millisecond)},
				Spend: status.Spend{
					Month: month, Paths: 412, Exact: true, Source: source, AsOf: ago(40 * time.Second),
					FreePaths: 1000, USD: 1.06, State: "under",
				},
				InProgress: []status.Invalidation{
					{ID: CalmInvalidation, Status: "InProgress", Created: ago(7 * time.Second), Items: 12, Origin: "own", Messages: 5, Sample: []string{"/2026/05/spring-sale", "/2026/05/", "/feed.xml", "/tags/sale/*"}},
				},
				Recent: []status.Invalidation{
					{ID: CalmInvalidation, Status: "InProgress", Created: ago(7 * time.Second), Items: 12, Origin: "own", Messages: 5},
					{ID: "I5QW8ERTEXAMPLE", Status: "Completed", Created: ago(2 * time.Minute), Completed: ago(2*time.Minute - 14*time.Second), Latency: status.D(14 * time.Second), Items: 9, Origin: "own", Messages: 4},
					{ID: "I8ZX3CVBEXAMPLE", Status: "Completed", Created: ago(9 * time.Minute), Completed: ago(9*time.Minute - 17*time.Second), Latency: status.D(17 * time.Second), Items: 31, Origin: "fleet"},
				},
			},
		},
		Account: status.Spend{
			Month: month, Paths: 2052, Exact: true, Source: source, AsOf: ago(40 * time.Second),
			FreePaths: 1000, USD: 5.26, BudgetUSD: 50, State: "under", Remaining: ip(8948),
		},
		DeadLettered: status.DeadLetters{Total: 6, ByReason: []status.ReasonCount{
			{Code: "invalid_path", Count: 4, Examples: []status.Example{
				{MessageID: "5f0c8a3e-2b1d-4c7e-9a61-0d2f7b8c4e15", At: ago(3 * time.Minute), Reason: `path "products/4711" does not start with "/"`, Body: `{"distribution":"www","paths":["products/4711","/products/4712"]}`},
				{MessageID: "a81b22c4-77e0-4f3a-b5d9-6c0e4f1a9b27", At: ago(41 * time.Minute), Reason: `"*" is only allowed last: "/img/*/large.jpg"`, Body: `{"distribution_id":"E2QWRUHEXAMPLE","paths":["/img/*/large.jpg"]}`},
			}},
			{Code: "distribution_not_allowed", Count: 2, Examples: []status.Example{
				{MessageID: "c3d9e1f0-5a6b-4d2c-8e7f-1b0a9c8d7e6f", At: ago(58 * time.Minute), Reason: `distribution "E9STAGINGEXAMPLE" is not in the allow-list`, Body: `{"distribution_id":"E9STAGINGEXAMPLE","paths":["/index.html"]}`},
			}},
		}},
		Errors: []status.ErrorClass{
			{Class: "cloudfront:quota", Count: 7, Last: ago(25 * time.Second), Sample: "TooManyInvalidationsInProgress: Processing your request will cause you to exceed the maximum number of in-progress wildcard invalidations."},
			{Class: "sqs:ChangeMessageVisibilityBatch", Count: 1, Last: ago(62 * time.Minute), Sample: "1 of 10 entries failed: ReceiptHandleIsInvalid"},
		},
		Actions: []status.Action{
			{At: ago(48 * time.Minute), Action: "resume", Target: Burst, By: "127.0.0.1:52311 · curl/8.5.0", Result: "ok"},
			{At: ago(55 * time.Minute), Action: "pause", Target: Burst, By: "127.0.0.1:52290 · curl/8.5.0", Reason: "origin deploy in progress", Result: "ok"},
		},
	}
}

// Tenant adds a distribution tenant of a multi-tenant distribution to s.
func Tenant(s status.Snapshot) status.Snapshot {
	s.Distributions = append(s.Distributions, status.Distribution{
		ID: "dt_acme_eu", Aliases: []string{"acme-eu"}, Kind: "tenant", Parent: "E3MULTIEXAMPLE",
		Quota: status.Quota{MaxFiles: 3000, MaxWildcards: 15, ReserveFiles: 100, ReserveWildcards: 2},
		View:  status.View{Age: status.D(2 * time.Second)},
		Spend: status.Spend{Month: s.Account.Month, FreePaths: 1000, State: "under", Exact: true, Source: "ledger"},
	})
	return s
}
