// Package preflight checks, before a deployment, that the worker's AWS
// setup will work: credentials and region, the queue and its dead-letter
// setup, the allow-listed distributions and the completion targets.
//
// Every check is read-only. Nothing here creates an invalidation or
// receives, deletes, changes or sends a message, so a check can run against
// production at any time. What can only be proved by such a call (the
// cloudfront:CreateInvalidation permission, sqs:DeleteMessage, …) is
// reported as not checked ([Skip]) instead of being guessed.
//
// Each check returns [Result]s; [Run] runs them all for a [Plan] and the
// caller decides how to print them. A Plan is a list of queues,
// distributions and distribution tenants, so a configuration with several
// queues or with tenants is checked by the same loops.
package preflight

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/config"
)

// Status is a check's outcome.
type Status string

// Statuses. Only Fail makes a pre-flight fail; Skip marks what could not
// be checked without side effects or without a permission the worker does
// not need.
const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Result is one check.
type Result struct {
	// Name is a stable identifier of the check ("queue.redrive_policy"),
	// for pipelines that match on it.
	Name string `json:"name"`
	// Target is the resource checked: a queue URL, a distribution id, a
	// topic ARN ("" for credentials and region).
	Target string `json:"target,omitempty"`
	Status Status `json:"status"`
	// Detail says what was found, in one line.
	Detail string `json:"detail"`
	// Remedy says what to change (which key, which IAM action) for a Fail,
	// or how to make a Skip checkable.
	Remedy string `json:"remedy,omitempty"`
}

// SQSAPI is the part of the SQS client the checks use: metadata only.
type SQSAPI interface {
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	GetQueueUrl(context.Context, *sqs.GetQueueUrlInput, ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// CloudFrontAPI is the part of the CloudFront client the checks use: the
// list and get calls, never CreateInvalidation.
type CloudFrontAPI interface {
	ListInvalidations(context.Context, *cloudfront.ListInvalidationsInput, ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error)
	GetInvalidation(context.Context, *cloudfront.GetInvalidationInput, ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
	ListInvalidationsForDistributionTenant(context.Context, *cloudfront.ListInvalidationsForDistributionTenantInput, ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsForDistributionTenantOutput, error)
}

// SNSAPI is the part of the SNS client the checks use.
type SNSAPI interface {
	GetTopicAttributes(context.Context, *sns.GetTopicAttributesInput, ...func(*sns.Options)) (*sns.GetTopicAttributesOutput, error)
}

var (
	_ SQSAPI        = (*sqs.Client)(nil)
	_ CloudFrontAPI = (*cloudfront.Client)(nil)
	_ SNSAPI        = (*sns.Client)(nil)
)

// Clients are what the checks talk to. SNS may be nil when no topic is
// configured.
type Clients struct {
	Credentials aws.CredentialsProvider
	Region      string
	SQS         SQSAPI
	CloudFront  CloudFrontAPI
	SNS         SNSAPI
}

// Queue is one queue the worker consumes, with the config keys that set
// it, so a remedy names the key to change.
type Queue struct {
	URL    string
	URLKey string // "queue_url", later "queues[1].url"
	// DLQURL is the configured dead-letter queue ("" = the RedrivePolicy
	// target, as the worker does).
	DLQURL string
	DLQKey string
	// Visibility is what the worker asks for on each ReceiveMessage.
	Visibility    time.Duration
	VisibilityKey string
	// MaxHold is the longest the worker holds a message before forcing a
	// reduction (the top-level max_hold or the largest per-distribution one).
	MaxHold time.Duration
}

// Distribution is one allow-listed distribution (or distribution tenant).
type Distribution struct {
	ID  string
	Key string // "distributions[0].id"
}

// Plan is everything one pre-flight checks.
type Plan struct {
	Queues        []Queue
	Distributions []Distribution
	// Tenants are allow-listed distribution tenants, checked with
	// ListInvalidationsForDistributionTenant.
	Tenants []Distribution
	// AllowAll: any well-formed distribution id is accepted, so the
	// allow-list does not bound what the worker may invalidate.
	AllowAll bool
	// TrackCompletion: the worker follows invalidations and announces them
	// to the completion targets; without it they are never used.
	TrackCompletion    bool
	CompletionTopicARN string
	CompletionQueueURL string
}

// PlanFor is what the configuration asks the worker to use.
func PlanFor(c config.Config) Plan {
	maxHold := c.MaxHold
	for _, d := range c.Distributions {
		maxHold = max(maxHold, c.MaxHoldFor(d))
	}
	p := Plan{
		AllowAll: c.AllowAllDistributions, TrackCompletion: c.TrackCompletion,
		CompletionTopicARN: c.CompletionTopicARN, CompletionQueueURL: c.CompletionQueueURL,
	}
	if len(c.Queues) == 0 {
		p.Queues = []Queue{{
			URL: c.QueueURL, URLKey: "queue_url",
			DLQURL: c.DeadLetterQueueURL, DLQKey: "dead_letter_queue_url",
			Visibility: c.VisibilityTimeout, VisibilityKey: "visibility_timeout", MaxHold: maxHold,
		}}
	}
	for i, q := range c.Queues {
		p.Queues = append(p.Queues, Queue{
			URL: q.URL, URLKey: keyf("queues[%d].url", i),
			DLQURL: q.DeadLetterQueueURL, DLQKey: keyf("queues[%d].dead_letter_queue_url", i),
			Visibility: c.VisibilityTimeout, VisibilityKey: "visibility_timeout", MaxHold: maxHold,
		})
	}
	for i, d := range c.Distributions {
		p.Distributions = append(p.Distributions, Distribution{ID: d.ID, Key: keyf("distributions[%d].id", i)})
	}
	for i, t := range c.Tenants {
		p.Tenants = append(p.Tenants, Distribution{ID: t.ID, Key: keyf("tenants[%d].id", i)})
	}
	return p
}

// Run runs every check of p, in order: identity, queues, distributions,
// tenants, completion targets, then what cannot be checked. Without usable
// credentials or region nothing else is tried: every call would fail the
// same way and bury the cause.
func Run(ctx context.Context, c Clients, p Plan) []Result {
	rs := []Result{CheckCredentials(ctx, c.Credentials), CheckRegion(c.Region)}
	if Failed(rs) {
		return append(rs, Result{Name: "aws", Status: Skip,
			Detail: "no other check run: without credentials and a region every AWS call fails"})
	}
	for _, q := range p.Queues {
		rs = append(rs, CheckQueue(ctx, c.SQS, c.Region, q)...)
	}
	for _, d := range p.Distributions {
		rs = append(rs, CheckDistribution(ctx, c.CloudFront, d)...)
	}
	for _, t := range p.Tenants {
		rs = append(rs, CheckTenant(ctx, c.CloudFront, t))
	}
	rs = append(rs, distributionsUnchecked(p)...)
	rs = append(rs, CheckCompletion(ctx, c.SNS, c.SQS, c.Region, p)...)
	return rs
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// Counts counts results by status.
func Counts(rs []Result) map[Status]int {
	n := map[Status]int{}
	for _, r := range rs {
		n[r.Status]++
	}
	return n
}
