package preflight

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// minMaxReceiveCount is the lowest RedrivePolicy maxReceiveCount that
// passes. The worker never relies on redelivery to retry: it keeps a
// message invisible (heartbeat) until an invalidation covers it and sends
// poison to the DLQ itself. So every further receive of a healthy message
// comes from something else — a release at shutdown (every deploy and
// scale-in makes held messages visible for the next worker), a crash or
// kill (its visibility lapses), a missed heartbeat, or `worker inspect
// --peek` on the queue — and each one counts. Once the count passes
// maxReceiveCount SQS moves the message to the DLQ without any invalidation
// having failed. Five leaves room for a rolling deploy or two and a crash
// while a message waits behind the quota, and matches AWS's advice for SQS
// consumers (Lambda's SQS event source guide: "at least 5").
const minMaxReceiveCount = 5

// SQS attribute names the checks read (GetQueueAttributes, API reference).
var queueAttributes = []types.QueueAttributeName{
	types.QueueAttributeNameQueueArn, types.QueueAttributeNameVisibilityTimeout,
	types.QueueAttributeNameMessageRetentionPeriod, types.QueueAttributeNameRedrivePolicy,
	types.QueueAttributeNameFifoQueue, types.QueueAttributeNameKmsMasterKeyId,
}

// queueCheck carries one queue's checks and what they learnt.
type queueCheck struct {
	api    SQSAPI
	region string
	q      Queue
	id     queueID
	attrs  map[string]string
	rs     []Result
}

func (c *queueCheck) add(r Result) { c.rs = append(c.rs, r) }

// CheckQueue checks the queue q the worker consumes and its dead-letter
// setup: that it exists in the SDK's region and is a standard queue, its
// retention against max_hold, its RedrivePolicy and maxReceiveCount, that
// the dead-letter queue exists, differs from the queue and is the one
// dead_letter_queue_url names. It reads attributes and URLs only.
func CheckQueue(ctx context.Context, api SQSAPI, region string, q Queue) []Result {
	c := &queueCheck{api: api, region: region, q: q}
	if !c.exists(ctx) {
		return c.rs
	}
	c.kind()
	c.visibility()
	c.retention()
	c.unchecked()
	target, ok := c.redrivePolicy()
	c.deadLetter(ctx, target, ok)
	return c.rs
}

// unchecked are the lines for the queue permissions only a receive proves.
func (c *queueCheck) unchecked() {
	c.add(Result{Name: "queue.consume", Target: c.q.URL, Status: Skip,
		Detail: "not checked: sqs:ReceiveMessage, sqs:ChangeMessageVisibility and sqs:DeleteMessage " +
			"(a receive would take a producer's message and count against maxReceiveCount; the other two need a received message's receipt handle)",
		Remedy: "grant them on " + c.id.ARN() + " (deploy/iam-policy.json, ConsumeInvalidationQueue)"})
	if key := c.attrs[string(types.QueueAttributeNameKmsMasterKeyId)]; key != "" {
		c.add(Result{Name: "queue.kms", Target: c.q.URL, Status: Skip,
			Detail: "encrypted with KMS key " + key + ": kms:Decrypt, needed to receive, is not checked",
			Remedy: "grant kms:Decrypt on that key to the worker's role"})
	}
}

// exists reads the queue's attributes, as the worker does at start-up.
func (c *queueCheck) exists(ctx context.Context) bool {
	q := c.q
	id, err := parseQueueURL(q.URL, c.region)
	if err != nil {
		c.add(Result{Name: "queue", Target: q.URL, Status: Fail, Detail: err.Error(), Remedy: "fix " + q.URLKey})
		return false
	}
	c.id = id
	if !c.sameRegion("queue", q.URL, q.URLKey) {
		return false
	}
	out, err := c.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.URL), AttributeNames: queueAttributes})
	if err != nil {
		c.add(failure("queue", q.URL, "sqs GetQueueAttributes", err, map[errKind]string{
			errNotFound: fmt.Sprintf("no such queue in %s: fix %s (%s), or the region (AWS_REGION) or account of the credentials",
				c.region, q.URLKey, envName(q.URLKey)),
			errDenied: "grant sqs:GetQueueAttributes on " + id.ARN() + " (the worker reads the queue's RedrivePolicy at start-up)",
		}))
		c.add(Result{Name: "queue.others", Target: q.URL, Status: Skip, Detail: "the queue's other checks need its attributes"})
		return false
	}
	c.attrs = out.Attributes
	if arn := c.attrs[string(types.QueueAttributeNameQueueArn)]; arn != "" {
		if real, err := parseQueueARN(arn); err == nil {
			c.id = real // the service's own name for it beats what the URL suggests
		}
	}
	c.add(Result{Name: "queue", Target: q.URL, Status: Pass, Detail: "exists: " + c.id.ARN()})
	return true
}

// sameRegion: the SDK sends calls to its own region's endpoint, not to the
// host in a queue URL, so a queue in another region is "not found" there.
func (c *queueCheck) sameRegion(name, rawURL, key string) bool {
	id, err := parseQueueURL(rawURL, c.region)
	if err != nil || id.Region == c.region {
		return true
	}
	c.add(Result{Name: name, Target: rawURL, Status: Fail,
		Detail: fmt.Sprintf("%s is a queue in %s, but the SDK's region is %s: every call would go to %s", key, id.Region, c.region, c.region),
		Remedy: fmt.Sprintf("set AWS_REGION=%s, or fix %s", id.Region, key)})
	return false
}

// kind: the worker needs a standard queue. It sends dead letters and
// announcements without a MessageGroupId, which a FIFO queue (and a FIFO
// queue's DLQ, which must be FIFO too) refuses, and it holds messages for
// the window, which would stall a FIFO message group behind them.
func (c *queueCheck) kind() {
	if c.attrs[string(types.QueueAttributeNameFifoQueue)] == "true" {
		c.add(Result{Name: "queue.type", Target: c.q.URL, Status: Fail, Detail: "a FIFO queue",
			Remedy: "use a standard queue for " + c.q.URLKey + " (the worker coalesces, so ordering buys nothing, and its DLQ sends carry no MessageGroupId)"})
		return
	}
	c.add(Result{Name: "queue.type", Target: c.q.URL, Status: Pass, Detail: "a standard queue"})
}

// visibility compares the queue's default VisibilityTimeout with the
// worker's. It always passes: the worker sets VisibilityTimeout on every
// ReceiveMessage, which overrides the queue's default for the messages it
// takes, and extends held messages itself, so the default applies only to
// other consumers (the aws cli, a console poll). It is reported so that a
// difference is not mistaken for a problem, or for the setting in force.
func (c *queueCheck) visibility() {
	raw := c.attrs[string(types.QueueAttributeNameVisibilityTimeout)]
	secs, err := strconv.Atoi(raw)
	if err != nil {
		c.add(Result{Name: "queue.visibility", Target: c.q.URL, Status: Pass,
			Detail: fmt.Sprintf("queue default unreadable (%q); the worker sets %s=%s on each receive", raw, c.q.VisibilityKey, human(c.q.Visibility))})
		return
	}
	def := time.Duration(secs) * time.Second
	detail := fmt.Sprintf("queue default %s, the same as %s", human(def), c.q.VisibilityKey)
	if def != c.q.Visibility {
		detail = fmt.Sprintf("queue default %s, %s %s: the worker sets its own on every ReceiveMessage and extends held messages, "+
			"so the queue default applies only to other consumers", human(def), c.q.VisibilityKey, human(c.q.Visibility))
	}
	c.add(Result{Name: "queue.visibility", Target: c.q.URL, Status: Pass, Detail: detail})
}

// retention: SQS deletes a message once it is older than the queue's
// MessageRetentionPeriod, held or not. The worker may hold a message up to
// max_hold behind the quota or a budget before it forces a reduction, so a
// shorter retention drops messages whose invalidation was never submitted.
func (c *queueCheck) retention() {
	ret, ok := seconds(c.attrs, types.QueueAttributeNameMessageRetentionPeriod)
	switch {
	case !ok:
		c.add(Result{Name: "queue.retention", Target: c.q.URL, Status: Skip, Detail: "the queue reported no MessageRetentionPeriod"})
	case ret < c.q.MaxHold:
		c.add(Result{Name: "queue.retention", Target: c.q.URL, Status: Fail,
			Detail: fmt.Sprintf("MessageRetentionPeriod %s is shorter than max_hold %s: SQS can delete a held message before it was invalidated", human(ret), human(c.q.MaxHold)),
			Remedy: fmt.Sprintf("raise the queue's MessageRetentionPeriod above %s (SQS default 4 days, at most 14), or lower max_hold", human(c.q.MaxHold))})
	default:
		c.add(Result{Name: "queue.retention", Target: c.q.URL, Status: Pass,
			Detail: fmt.Sprintf("MessageRetentionPeriod %s, longer than max_hold %s", human(ret), human(c.q.MaxHold))})
	}
}

// redrivePolicy checks the queue's RedrivePolicy and returns its target.
func (c *queueCheck) redrivePolicy() (queueID, bool) {
	raw := c.attrs[string(types.QueueAttributeNameRedrivePolicy)]
	if raw == "" {
		r := Result{Name: "queue.redrive_policy", Target: c.q.URL, Status: Fail, Detail: "no RedrivePolicy"}
		if c.q.DLQURL == "" {
			r.Detail += " and no " + c.q.DLQKey + ": there is no dead-letter queue"
			r.Remedy = fmt.Sprintf("create a dead-letter queue and set a RedrivePolicy on the queue (deadLetterTargetArn, maxReceiveCount ≥ %d); "+
				"without one, poison is logged, counted (invalidator_poison_kept_total) and left on the queue, redelivered forever", minMaxReceiveCount)
		} else {
			r.Detail += ": the worker dead-letters the poison it recognises, but a message that never settles (a crash on it, a lost worker) is redelivered forever"
			r.Remedy = fmt.Sprintf("set a RedrivePolicy on the queue with deadLetterTargetArn = the ARN of %s and maxReceiveCount ≥ %d", c.q.DLQKey, minMaxReceiveCount)
		}
		c.add(r)
		return queueID{}, false
	}
	var p struct {
		Target string          `json:"deadLetterTargetArn"`
		Max    json.RawMessage `json:"maxReceiveCount"`
	}
	err := json.Unmarshal([]byte(raw), &p)
	var target queueID
	if err == nil {
		target, err = parseQueueARN(p.Target)
	}
	if err != nil {
		c.add(Result{Name: "queue.redrive_policy", Target: c.q.URL, Status: Fail, Detail: fmt.Sprintf("RedrivePolicy %s unreadable: %v", raw, err),
			Remedy: `set the queue's RedrivePolicy to {"deadLetterTargetArn":"arn:aws:sqs:REGION:ACCOUNT_ID:NAME","maxReceiveCount":5}`})
		return queueID{}, false
	}
	c.add(Result{Name: "queue.redrive_policy", Target: c.q.URL, Status: Pass, Detail: "dead-letters to " + p.Target})
	// maxReceiveCount is a number or a string, depending on who set it.
	n, err := strconv.Atoi(strings.Trim(string(p.Max), `"`))
	switch {
	case err != nil || n < 1:
		c.add(Result{Name: "queue.max_receive_count", Target: c.q.URL, Status: Fail, Detail: fmt.Sprintf("maxReceiveCount %s unreadable", p.Max),
			Remedy: fmt.Sprintf("set maxReceiveCount in the queue's RedrivePolicy to %d or more", minMaxReceiveCount)})
	case n < minMaxReceiveCount:
		c.add(Result{Name: "queue.max_receive_count", Target: c.q.URL, Status: Fail,
			Detail: fmt.Sprintf("maxReceiveCount %d is below %d: SQS dead-letters a healthy message once it was received more than %d times, "+
				"and every shutdown release, crash or missed heartbeat while it is held counts one", n, minMaxReceiveCount, n),
			Remedy: fmt.Sprintf("raise maxReceiveCount in the queue's RedrivePolicy to at least %d (the worker retries by holding, not by redelivery, "+
				"so a higher count costs nothing: poison is dead-lettered by the worker itself)", minMaxReceiveCount)})
	default:
		c.add(Result{Name: "queue.max_receive_count", Target: c.q.URL, Status: Pass,
			Detail: fmt.Sprintf("maxReceiveCount %d (at least %d: room for shutdown releases and crashes while a message is held)", n, minMaxReceiveCount)})
	}
	return target, true
}

// deadLetter checks where poison goes: the configured dead_letter_queue_url
// if set, else the RedrivePolicy target (found with GetQueueUrl, as the
// worker does); that the two agree; and the target's retention.
func (c *queueCheck) deadLetter(ctx context.Context, target queueID, hasTarget bool) {
	var (
		dlqURL   = c.q.DLQURL
		dlq      dlqProbe
		match    bool
		dlqKnown bool
	)
	if dlqURL != "" {
		dlq, dlqKnown = c.configuredDLQ(ctx)
		if dlqKnown && hasTarget {
			match = dlq.id == target
			c.matchesRedrive(dlq.id, target, match)
		}
	}
	if !hasTarget {
		c.sendUnchecked(dlqURL, dlq.id, dlqKnown)
		return
	}
	var tgt dlqProbe
	if match {
		tgt = dlq
	} else {
		var ok bool
		if tgt, ok = c.redriveTarget(ctx, target); !ok {
			c.sendUnchecked(dlqURL, dlq.id, dlqKnown)
			return
		}
	}
	c.dlqRetention(ctx, tgt)
	if dlqURL == "" {
		c.sendUnchecked(tgt.url, tgt.id, true)
	} else {
		c.sendUnchecked(dlqURL, dlq.id, dlqKnown)
	}
}

// dlqProbe is what was learnt of a dead-letter queue.
type dlqProbe struct {
	id    queueID
	url   string
	attrs map[string]string // nil when GetQueueAttributes was not allowed
}

// configuredDLQ checks dead_letter_queue_url: a queue URL, not the queue
// itself, existing. GetQueueAttributes is tried first (it gives the ARN);
// the worker's own policy grants only sqs:SendMessage and sqs:GetQueueUrl
// on the DLQ, so a denial falls back to GetQueueUrl by name and account.
func (c *queueCheck) configuredDLQ(ctx context.Context) (dlqProbe, bool) {
	q := c.q
	id, err := parseQueueURL(q.DLQURL, c.region)
	if err != nil {
		c.add(Result{Name: "dlq", Target: q.DLQURL, Status: Fail, Detail: err.Error(), Remedy: "fix " + q.DLQKey})
		return dlqProbe{}, false
	}
	if id == c.id {
		c.add(Result{Name: "dlq.distinct", Target: q.DLQURL, Status: Fail,
			Detail: fmt.Sprintf("%s names the queue itself (%s): poison would come straight back", q.DLQKey, id),
			Remedy: fmt.Sprintf("point %s at the dead-letter queue, or remove it to use the RedrivePolicy target", q.DLQKey)})
		return dlqProbe{}, false
	}
	c.add(Result{Name: "dlq.distinct", Target: q.DLQURL, Status: Pass, Detail: "differs from " + q.URLKey})
	if !c.sameRegion("dlq", q.DLQURL, q.DLQKey) {
		return dlqProbe{}, false
	}
	notFound := fmt.Sprintf("no such queue: create it, or fix %s (%s)", q.DLQKey, envName(q.DLQKey))
	out, err := c.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.DLQURL), AttributeNames: queueAttributes})
	if err == nil {
		p := dlqProbe{id: id, url: q.DLQURL, attrs: out.Attributes}
		if real, err := parseQueueARN(out.Attributes[string(types.QueueAttributeNameQueueArn)]); err == nil {
			p.id = real
		}
		c.add(Result{Name: "dlq", Target: q.DLQURL, Status: Pass, Detail: "exists: " + p.id.ARN()})
		return p, true
	}
	if classify(err) != errDenied {
		c.add(failure("dlq", q.DLQURL, "sqs GetQueueAttributes", err, map[errKind]string{errNotFound: notFound}))
		return dlqProbe{}, false
	}
	if _, err := c.getURL(ctx, id); err != nil {
		if classify(err) == errDenied {
			c.add(Result{Name: "dlq", Target: q.DLQURL, Status: Skip,
				Detail: "not checked: neither sqs:GetQueueAttributes nor sqs:GetQueueUrl is allowed on it",
				Remedy: "grant sqs:GetQueueUrl on " + id.ARN() + " (deploy/iam-policy.json, DeadLetterPoisonMessages) so its existence can be checked"})
			return dlqProbe{}, false
		}
		c.add(failure("dlq", q.DLQURL, "sqs GetQueueUrl", err, map[errKind]string{errNotFound: notFound}))
		return dlqProbe{}, false
	}
	c.add(Result{Name: "dlq", Target: q.DLQURL, Status: Pass,
		Detail: "exists (found by name with GetQueueUrl; sqs:GetQueueAttributes on it is not granted, which the worker does not need)"})
	return dlqProbe{id: id, url: q.DLQURL}, true
}

// matchesRedrive: with dead_letter_queue_url set, the worker sends the
// poison it recognises there, while SQS moves messages past maxReceiveCount
// to the RedrivePolicy target. Two different queues split the dead letters:
// alarms, `worker inspect` and `worker redrive` on one miss the other.
// Queues are compared by region, account and name, so a URL and an ARN of
// the same queue agree whatever host the URL uses.
func (c *queueCheck) matchesRedrive(dlq, target queueID, match bool) {
	if match {
		c.add(Result{Name: "dlq.matches_redrive", Target: c.q.DLQURL, Status: Pass,
			Detail: c.q.DLQKey + " is the queue's RedrivePolicy target"})
		return
	}
	c.add(Result{Name: "dlq.matches_redrive", Target: c.q.DLQURL, Status: Fail,
		Detail: fmt.Sprintf("%s is %s, but the queue's RedrivePolicy moves messages to %s: dead letters would be split over two queues",
			c.q.DLQKey, dlq.ARN(), target.ARN()),
		Remedy: fmt.Sprintf("set %s to the URL of %s (or remove it: the worker then uses the RedrivePolicy target), or point the RedrivePolicy at %s",
			c.q.DLQKey, target.Name, dlq.ARN())})
}

// redriveTarget finds the RedrivePolicy target by name and account, as the
// worker does when dead_letter_queue_url is not set.
func (c *queueCheck) redriveTarget(ctx context.Context, target queueID) (dlqProbe, bool) {
	url, err := c.getURL(ctx, target)
	if err == nil {
		c.add(Result{Name: "dlq.redrive_target", Target: target.ARN(), Status: Pass, Detail: "exists: " + url})
		return dlqProbe{id: target, url: url}, true
	}
	if classify(err) == errDenied && c.q.DLQURL != "" {
		// The worker does not look the target up when the DLQ is configured.
		c.add(Result{Name: "dlq.redrive_target", Target: target.ARN(), Status: Skip,
			Detail: "not checked: sqs:GetQueueUrl is not allowed on it (the worker does not need it while " + c.q.DLQKey + " is set)",
			Remedy: "grant sqs:GetQueueUrl on " + target.ARN() + " so the check can see it"})
		return dlqProbe{}, false
	}
	c.add(failure("dlq.redrive_target", target.ARN(), "sqs GetQueueUrl", err, map[errKind]string{
		errNotFound: "the RedrivePolicy names a queue that does not exist, so SQS has nowhere to move messages: " +
			"create " + target.Name + " or point deadLetterTargetArn at an existing queue",
		errDenied: "grant sqs:GetQueueUrl on " + target.ARN() + " (the worker finds its dead-letter queue through the RedrivePolicy with it; deploy/iam-policy.json, DeadLetterPoisonMessages)",
	}))
	return dlqProbe{}, false
}

// dlqRetention: for a standard queue SQS keeps a message's original
// enqueue time when it moves it to the DLQ, so a DLQ retaining messages for
// less time than the queue can delete them soon after they arrive. AWS:
// "always set the retention period of a dead-letter queue to be longer than
// the retention period of the original queue" (SQS developer guide,
// dead-letter queue retention). Messages the worker sends to the DLQ are
// new messages and are not affected.
func (c *queueCheck) dlqRetention(ctx context.Context, dlq dlqProbe) {
	attrs := dlq.attrs
	if attrs == nil {
		out, err := c.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(dlq.url),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameMessageRetentionPeriod}})
		if err != nil {
			if classify(err) == errDenied {
				c.add(Result{Name: "dlq.retention", Target: dlq.url, Status: Skip,
					Detail: "not checked: sqs:GetQueueAttributes is not allowed on the dead-letter queue (the worker does not need it)",
					Remedy: "grant sqs:GetQueueAttributes on " + dlq.id.ARN() + " to let the check compare retention periods"})
				return
			}
			c.add(failure("dlq.retention", dlq.url, "sqs GetQueueAttributes", err, nil))
			return
		}
		attrs = out.Attributes
	}
	qRet, qok := seconds(c.attrs, types.QueueAttributeNameMessageRetentionPeriod)
	dRet, dok := seconds(attrs, types.QueueAttributeNameMessageRetentionPeriod)
	switch {
	case !qok || !dok:
		c.add(Result{Name: "dlq.retention", Target: dlq.url, Status: Skip, Detail: "a MessageRetentionPeriod was not reported"})
	case dRet < qRet:
		c.add(Result{Name: "dlq.retention", Target: dlq.url, Status: Fail,
			Detail: fmt.Sprintf("MessageRetentionPeriod %s, shorter than the queue's %s: a message SQS moves there keeps its original enqueue time and can expire at once", human(dRet), human(qRet)),
			Remedy: fmt.Sprintf("raise the dead-letter queue's MessageRetentionPeriod above %s (at most 14 days)", human(qRet))})
	default:
		c.add(Result{Name: "dlq.retention", Target: dlq.url, Status: Pass,
			Detail: fmt.Sprintf("MessageRetentionPeriod %s, not shorter than the queue's %s", human(dRet), human(qRet))})
	}
}

// sendUnchecked is the line for the one DLQ permission only a send proves.
func (c *queueCheck) sendUnchecked(url string, id queueID, known bool) {
	if url == "" {
		return // no dead-letter queue at all: already a failure
	}
	arn := "the dead-letter queue"
	if known {
		arn = id.ARN()
	}
	c.add(Result{Name: "dlq.send", Target: url, Status: Skip,
		Detail: "not checked: sqs:SendMessage (testing it would put a message in the dead-letter queue)",
		Remedy: "grant sqs:SendMessage on " + arn + " (deploy/iam-policy.json, DeadLetterPoisonMessages)"})
}

func (c *queueCheck) getURL(ctx context.Context, id queueID) (string, error) {
	out, err := c.api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(id.Name), QueueOwnerAWSAccountId: aws.String(id.Account)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.QueueUrl), nil
}

// seconds reads an attribute given in whole seconds.
func seconds(attrs map[string]string, name types.QueueAttributeName) (time.Duration, bool) {
	n, err := strconv.Atoi(attrs[string(name)])
	if err != nil {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// envName is the variable that sets a top-level key; nested keys (a future
// queues[1].url) have none of their own.
func envName(key string) string {
	if strings.ContainsAny(key, ".[") {
		return "set in the file"
	}
	return "INVALIDATOR_" + strings.ToUpper(key)
}
