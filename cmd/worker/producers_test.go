package main

// End-to-end tests with producers we do not control (issue 4): moto's own S3
// bucket notifications, moto's SNS fan-out and the aws cli write to the
// queue; the real worker binary reads it; moto's CloudFront shows what was
// invalidated. One moto_server per test plays S3, SNS, SQS and CloudFront.
//
// What moto 5.x sends (checked here before the worker runs, and logged):
//   - S3 → SQS: json.dumps of {"Records":[{"eventVersion":"2.1",
//     "eventSource":"aws:s3","eventName":"ObjectCreated:Put",
//     "s3":{"bucket":{"name":…},"object":{"key":…}}}]} with the key run
//     through Python's quote_plus: a space is "+", a literal "+" is "%2B",
//     and "/" is "%2F" too (real S3 leaves "/" alone; both decode the same).
//     Putting a notification configuration first sends
//     {"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":…} — no Records.
//   - SNS → SQS without raw delivery: a pretty-printed envelope
//     {"Message":"<body>","MessageId":…,"Signature":…,"TopicArn":…,
//     "Type":"Notification",…}; with RawMessageDelivery the body itself.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// producerConfig is the worker of these tests: queue, dead-lettering to
// dlq, the given allow-list, window 1 s, visibility 30 s.
func producerConfig(queue, dlq string, dists ...e2e.Dist) e2e.Config {
	return e2e.Config{QueueURL: queue, DLQURL: dlq, Window: "1s", Visibility: "30s", Grace: "5s", Distributions: dists}
}

// startProducerWorker runs the worker with cfg on moto (ep) through a
// recording proxy (serialised, for moto's delete race), which it returns.
func startProducerWorker(t *testing.T, ep string, cfg e2e.Config) (*e2e.Worker, *e2e.SQSProxy) {
	t.Helper()
	proxy := e2e.NewSQSProxy(t, ep, e2e.ProxyOptions{Serial: true})
	return e2e.StartWorker(t, cfg, proxy.URL, ep), proxy
}

// union is every item of invalidates, sorted.
func union(invalidates map[string][]string) []string {
	var out []string
	for _, items := range invalidates {
		out = append(out, items...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestProducerS3Notifications: moto's S3 sends its own event notifications
// (form-encoded keys) straight to the worker's queue. The s3:TestEvent is
// deleted and counted, never dead-lettered; every put and delete becomes
// exactly the CloudFront paths of its key; events of an unmapped bucket are
// dead-lettered as unmapped_bucket, while a key of a mapped bucket outside
// its prefix is ignored and counted (outside_prefix): a prefix is a filter.
// Every event the worker deletes was invalidated first (by an invalidation
// created after moto sent it), dead-lettered first, or is one it ignores.
func TestProducerS3Notifications(t *testing.T) {
	moto := testenv.Moto(t)
	ep := moto.Endpoint
	sq, cf := e2e.SQSClient(ep), e2e.CFClient(ep)

	t.Run("direct", func(t *testing.T) {
		queue, dlq := e2e.CreateQueues(t, sq, "s3-direct", 5, 30*time.Second)
		arn := e2e.QueueArn(t, sq, queue)
		dist := e2e.CreateS3Distribution(t, cf, "producers-site", "site", "")

		e2e.CLI(t, ep, "s3api", "create-bucket", "--bucket", "site")
		e2e.S3Upload(t, ep, "site", "old/gone.html") // before notifications: no event for its creation
		e2e.S3NotifyQueue(t, ep, "site", arn)
		e2e.CLI(t, ep, "s3api", "create-bucket", "--bucket", "stray")
		e2e.S3NotifyQueue(t, ep, "stray", arn)
		keys := []string{"index.html", "my post.html", "café/ü.html", "blog/2024/index.html", "a+b.html", "50%off.html"}
		e2e.S3Upload(t, ep, "site", keys...)
		e2e.S3Upload(t, ep, "stray", "page.html")
		e2e.CLI(t, ep, "s3api", "delete-object", "--bucket", "site", "--key", "old/gone.html")

		// What moto sent: 2 test events, 6 + 1 puts, 1 delete.
		msgs := e2e.Peek(t, sq, queue, 10, 20*time.Second)
		bodies := e2e.JSONBodies(t, msgs)
		tests, events := 0, []map[string]any{}
		for _, b := range bodies {
			if b["Event"] == "s3:TestEvent" {
				tests++
				if _, ok := b["Records"]; ok {
					t.Errorf("moto's s3:TestEvent has Records: %v", b)
				}
				continue
			}
			events = append(events, b)
		}
		raw, _ := json.Marshal(bodies[0])
		t.Logf("moto S3 → SQS test event: %s", e2e.Abridge(string(raw), 200))
		raw, _ = json.Marshal(events[0])
		t.Logf("moto S3 → SQS event: %s", e2e.Abridge(string(raw), 600))
		sent := e2e.S3Keys(events)
		t.Logf("moto S3 → SQS records (eventName key-as-sent): %q", sent)
		if tests != 2 {
			t.Errorf("%d s3:TestEvent messages, want 2 (one per bucket)", tests)
		}
		// The documented encoding: a space arrives as "+", a literal "+" as "%2B".
		for _, want := range []string{"ObjectCreated:Put my+post.html", "ObjectCreated:Put a%2Bb.html"} {
			if !slices.Contains(sent, want) {
				t.Errorf("moto sent no record %q (form-encoded key); got %q", want, sent)
			}
		}
		var decoded []string
		for _, s := range sent {
			name, key, _ := strings.Cut(s, " ")
			k, err := url.QueryUnescape(key)
			if err != nil {
				t.Fatalf("key %q as sent is not form-encoded: %v", key, err)
			}
			decoded = append(decoded, name+" "+k)
		}
		wantDecoded := []string{"ObjectRemoved:Delete old/gone.html", "ObjectCreated:Put page.html"}
		for _, k := range keys {
			wantDecoded = append(wantDecoded, "ObjectCreated:Put "+k)
		}
		slices.Sort(decoded)
		slices.Sort(wantDecoded)
		if !slices.Equal(decoded, wantDecoded) {
			t.Fatalf("records (keys form-decoded) = %q, want %q", decoded, wantDecoded)
		}

		// What each key's event must invalidate.
		invalidates := map[string][]string{
			"index.html":           {"/index.html", "/"}, // index_directories on (the default)
			"my post.html":         {"/my%20post.html"},
			"café/ü.html":          {"/caf%C3%A9/%C3%BC.html"},
			"blog/2024/index.html": {"/blog/2024/index.html", "/blog/2024/"},
			"a+b.html":             {"/a+b.html"},      // "a%2Bb.html" as sent: a plus sign, not a space
			"50%off.html":          {"/50%25off.html"}, // a literal "%" in a key
			"old/gone.html":        {"/old/gone.html"}, // the delete
		}
		wants := e2e.Wants{}
		for i, b := range bodies {
			switch bucket, key := e2e.S3Object(b); {
			case b["Event"] == "s3:TestEvent":
				wants[msgs[i].ID] = e2e.Want{Ignore: "s3:TestEvent"}
			case bucket == "stray":
				wants[msgs[i].ID] = e2e.Want{DeadLettered: true}
			default:
				wants[msgs[i].ID] = e2e.Want{Dist: dist, Items: invalidates[key]}
			}
		}

		w, proxy := startProducerWorker(t, ep, producerConfig(queue, dlq, e2e.Dist{ID: dist, S3: []e2e.S3Source{{Bucket: "site"}}}))
		got := e2e.ReceiveAll(t, sq, dlq, 1, 30*time.Second)
		if len(got) != 1 {
			t.Fatalf("%d DLQ messages, want 1 (the stray bucket's put)", len(got))
		}
		if got[0].ReasonCode != "unmapped_bucket" {
			t.Errorf("DLQ message reason_code %q (reason %q), want unmapped_bucket", got[0].ReasonCode, got[0].Reason)
		}
		var dead map[string]any
		if err := json.Unmarshal([]byte(got[0].Body), &dead); err != nil || e2e.Dig(dead, "Records", 0, "s3", "bucket", "name") != "stray" {
			t.Errorf("DLQ body is not the stray bucket's S3 event (err %v): %s", err, e2e.Abridge(got[0].Body, 400))
		}
		t.Logf("DLQ: %s — %s", got[0].ReasonCode, got[0].Reason)
		e2e.WaitDrained(t, sq, queue, 60*time.Second)

		invs := e2e.WaitInvalidatedExactly(t, cf, dist, union(invalidates), 30*time.Second)
		e2e.LogInvalidations(t, "direct", invs)

		m := w.Metrics(t)
		if v := m[e2e.Series("invalidator_messages_ignored_total", "reason", "s3:TestEvent")]; v != 2 {
			t.Errorf("messages_ignored_total{reason=s3:TestEvent} = %v, want 2", v)
		}
		if v := e2e.MetricSum(m, "invalidator_messages_ignored_total"); v != 2 {
			t.Errorf("messages_ignored_total = %v, want 2 (the test events only; the delete must be invalidated, not ignored)", v)
		}
		if v := e2e.MetricSum(m, "invalidator_messages_dead_lettered_total"); v != 1 ||
			m[e2e.Series("invalidator_messages_dead_lettered_total", "reason", "unmapped_bucket")] != 1 {
			t.Errorf("messages_dead_lettered_total = %v, want 1 with reason unmapped_bucket", v)
		}
		e2e.NoMoreDLQ(t, sq, dlq)
		e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, e2e.FromCloudFront(t, cf, dist), got...)
		w.Stop(t, 10*time.Second)
	})

	t.Run("prefix+origin_path", func(t *testing.T) {
		queue, dlq := e2e.CreateQueues(t, sq, "s3-prefixed", 5, 30*time.Second)
		arn := e2e.QueueArn(t, sq, queue)
		// CloudFront fetches https://assets…/site + request path: the object
		// "site/blog/2024/index.html" is served as "/blog/2024/index.html".
		dist := e2e.CreateS3Distribution(t, cf, "producers-assets", "assets", "/site")
		off := false

		e2e.CLI(t, ep, "s3api", "create-bucket", "--bucket", "assets")
		e2e.S3NotifyQueue(t, ep, "assets", arn)
		e2e.S3Upload(t, ep, "assets", "site/my post.html", "site/blog/2024/index.html", "site/café/ü.html", "drafts/wip.html")
		msgs := e2e.Peek(t, sq, queue, 5, 20*time.Second)
		bodies := e2e.JSONBodies(t, msgs)
		t.Logf("moto S3 → SQS records: %q", e2e.S3Keys(bodies))
		// Origin path stripped, prefix kept as a filter only; no "/blog/2024/"
		// with index_directories off.
		invalidates := map[string][]string{
			"site/my post.html":         {"/my%20post.html"},
			"site/blog/2024/index.html": {"/blog/2024/index.html"},
			"site/café/ü.html":          {"/caf%C3%A9/%C3%BC.html"},
		}
		wants := e2e.Wants{}
		for i, b := range bodies {
			switch _, key := e2e.S3Object(b); {
			case b["Event"] == "s3:TestEvent":
				wants[msgs[i].ID] = e2e.Want{Ignore: "s3:TestEvent"}
			case key == "drafts/wip.html":
				wants[msgs[i].ID] = e2e.Want{Ignore: "outside_prefix"}
			default:
				wants[msgs[i].ID] = e2e.Want{Dist: dist, Items: invalidates[key]}
			}
		}

		w, proxy := startProducerWorker(t, ep, producerConfig(queue, dlq, e2e.Dist{ID: dist, IndexDirectories: &off,
			S3: []e2e.S3Source{{Bucket: "assets", Prefix: "site/", OriginPath: "/site"}}}))
		e2e.WaitDrained(t, sq, queue, 60*time.Second)
		if v := w.Metric(t, e2e.Series("invalidator_messages_ignored_total", "reason", "outside_prefix")); v != 1 {
			t.Errorf("messages_ignored_total{reason=outside_prefix} = %v, want 1 (drafts/wip.html)", v)
		}

		invs := e2e.WaitInvalidatedExactly(t, cf, dist, union(invalidates), 30*time.Second)
		e2e.LogInvalidations(t, "prefix+origin_path", invs)
		if v := w.Metric(t, e2e.Series("invalidator_messages_ignored_total", "reason", "s3:TestEvent")); v != 1 {
			t.Errorf("messages_ignored_total{reason=s3:TestEvent} = %v, want 1", v)
		}
		e2e.NoMoreDLQ(t, sq, dlq)
		e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, e2e.FromCloudFront(t, cf, dist))
		w.Stop(t, 10*time.Second)
	})

	// S3 → EventBridge → SQS: moto puts the raw key in detail.object.key
	// and, for every put, also sends "Object Tags Added", which changes
	// nothing CloudFront serves.
	t.Run("eventbridge", func(t *testing.T) {
		queue, dlq := e2e.CreateQueues(t, sq, "s3-eventbridge", 5, 30*time.Second)
		dist := e2e.CreateS3Distribution(t, cf, "producers-events", "events", "")
		e2e.CLI(t, ep, "events", "put-rule", "--name", "s3-to-invalidator", "--event-pattern", `{"source":["aws.s3"]}`)
		e2e.CLI(t, ep, "events", "put-targets", "--rule", "s3-to-invalidator", "--targets",
			fmt.Sprintf(`[{"Id":"queue","Arn":%q}]`, e2e.QueueArn(t, sq, queue)))
		e2e.CLI(t, ep, "s3api", "create-bucket", "--bucket", "events")
		e2e.S3Upload(t, ep, "events", "gone.html") // before notifications: no event
		e2e.CLI(t, ep, "s3api", "put-bucket-notification-configuration", "--bucket", "events",
			"--notification-configuration", `{"EventBridgeConfiguration":{}}`)
		e2e.S3Upload(t, ep, "events", "a b+c/index.html", "café/ü.html")
		e2e.CLI(t, ep, "s3api", "delete-object", "--bucket", "events", "--key", "gone.html")

		msgs := e2e.Peek(t, sq, queue, 5, 20*time.Second)
		// The key is not form-encoded here: "+" stays a plus sign.
		invalidates := map[string][]string{
			"a b+c/index.html": {"/a%20b+c/index.html", "/a%20b+c/"},
			"café/ü.html":      {"/caf%C3%A9/%C3%BC.html"},
			"gone.html":        {"/gone.html"},
		}
		wants := e2e.Wants{}
		var seen []string
		for i, b := range e2e.JSONBodies(t, msgs) {
			if i == 0 {
				t.Logf("moto S3 → EventBridge → SQS: %s", e2e.Abridge(msgs[0].Body, 500))
			}
			kind, key := b["detail-type"], fmt.Sprint(e2e.Dig(b, "detail", "object", "key"))
			seen = append(seen, fmt.Sprintf("%v %v", kind, key))
			if kind == "Object Tags Added" {
				wants[msgs[i].ID] = e2e.Want{Ignore: "Object Tags Added"}
			} else {
				wants[msgs[i].ID] = e2e.Want{Dist: dist, Items: invalidates[key]}
			}
		}
		slices.Sort(seen)
		t.Logf("moto EventBridge events (detail-type key): %q", seen)
		tagEvents := 0
		for _, s := range seen {
			if strings.HasPrefix(s, "Object Tags Added ") {
				tagEvents++
			}
		}

		w, proxy := startProducerWorker(t, ep, producerConfig(queue, dlq, e2e.Dist{ID: dist, S3: []e2e.S3Source{{Bucket: "events"}}}))
		e2e.WaitDrained(t, sq, queue, 60*time.Second)
		invs := e2e.WaitInvalidatedExactly(t, cf, dist, union(invalidates), 30*time.Second)
		e2e.LogInvalidations(t, "eventbridge", invs)
		if v := e2e.MetricSum(w.Metrics(t), "invalidator_messages_ignored_total"); v != float64(tagEvents) {
			t.Errorf("messages_ignored_total = %v, want %d (the Object Tags Added events)", v, tagEvents)
		}
		e2e.NoMoreDLQ(t, sq, dlq)
		e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, e2e.FromCloudFront(t, cf, dist))
		w.Stop(t, 10*time.Second)
	})
}

// TestProducerS3KeyQuestionMark: an S3 key may hold "?" (S3 allows it; the
// notification sends it as "%3F"). The object is served at "/faq%3F.html":
// a raw "?" in an invalidation path starts CloudFront's query string, so
// "/faq?.html" would invalidate "/faq" with the query ".html" and leave the
// object stale while the message is deleted as done. A test of its own so
// that it can be run (and skipped) apart from the other S3 cases.
func TestProducerS3KeyQuestionMark(t *testing.T) {
	moto := testenv.Moto(t)
	ep := moto.Endpoint
	sq, cf := e2e.SQSClient(ep), e2e.CFClient(ep)
	queue, dlq := e2e.CreateQueues(t, sq, "s3-query-char", 5, 30*time.Second)
	dist := e2e.CreateS3Distribution(t, cf, "producers-faq", "faq", "")
	e2e.CLI(t, ep, "s3api", "create-bucket", "--bucket", "faq")
	e2e.S3NotifyQueue(t, ep, "faq", e2e.QueueArn(t, sq, queue))
	e2e.S3Upload(t, ep, "faq", "faq?.html")
	msgs := e2e.Peek(t, sq, queue, 2, 20*time.Second)
	bodies := e2e.JSONBodies(t, msgs)
	t.Logf("moto S3 → SQS records: %q", e2e.S3Keys(bodies))
	want := []string{"/faq%3F.html"}
	wants := e2e.Wants{}
	for i, b := range bodies {
		if b["Event"] == "s3:TestEvent" {
			wants[msgs[i].ID] = e2e.Want{Ignore: "s3:TestEvent"}
		} else {
			wants[msgs[i].ID] = e2e.Want{Dist: dist, Items: want}
		}
	}

	w, proxy := startProducerWorker(t, ep, producerConfig(queue, dlq, e2e.Dist{ID: dist, S3: []e2e.S3Source{{Bucket: "faq"}}}))
	e2e.WaitDrained(t, sq, queue, 60*time.Second)
	e2e.Poll(t, 30*time.Second, 200*time.Millisecond, "an invalidation", func() (bool, string) {
		invs, _ := e2e.Invalidated(t, cf, dist)
		return len(invs) > 0, "none"
	})
	invs, union := e2e.Invalidated(t, cf, dist)
	e2e.LogInvalidations(t, "question mark", invs)
	if !slices.Equal(union, want) {
		t.Errorf("S3 object %q invalidated as %q, want %q", "faq?.html", union, want)
	}
	e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, invs)
	w.Stop(t, 10*time.Second)
}

// TestProducerSNSFanout: one SNS topic fans out to two queues, one
// subscribed without raw delivery (bodies are SNS envelopes) and one with
// it. Each queue has its own worker and distribution (both named by the
// alias "site" and both mapped to the bucket "media"), so each
// distribution's invalidations show what its worker decoded. The topic
// carries v1 bodies, a hand-written S3 event in real S3's encoding, and
// moto's own S3 → SNS notifications (test event included).
func TestProducerSNSFanout(t *testing.T) {
	moto := testenv.Moto(t)
	ep := moto.Endpoint
	ctx := context.Background()
	sq, cf, sn := e2e.SQSClient(ep), e2e.CFClient(ep), e2e.SNSClient(ep)

	qEnv, dlqEnv := e2e.CreateQueues(t, sq, "sns-envelope", 5, 30*time.Second)
	qRaw, dlqRaw := e2e.CreateQueues(t, sq, "sns-raw", 5, 30*time.Second)
	topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("site-changes")})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	topicArn := aws.ToString(topic.TopicArn)
	for _, s := range []struct {
		queue string
		raw   bool
	}{{qEnv, false}, {qRaw, true}} {
		in := &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
			Endpoint: aws.String(e2e.QueueArn(t, sq, s.queue)), ReturnSubscriptionArn: true}
		if s.raw {
			in.Attributes = map[string]string{"RawMessageDelivery": "true"}
		}
		if _, err := sn.Subscribe(ctx, in); err != nil {
			t.Fatalf("Subscribe %s: %v", s.queue, err)
		}
	}
	dEnv := e2e.CreateS3Distribution(t, cf, "producers-media-envelope", "media", "")
	dRaw := e2e.CreateS3Distribution(t, cf, "producers-media-raw", "media", "")

	// S3 → SNS: moto publishes an s3:TestEvent now, and an event per put.
	e2e.CLI(t, ep, "s3api", "create-bucket", "--bucket", "media")
	e2e.CLI(t, ep, "s3api", "put-bucket-notification-configuration", "--bucket", "media", "--notification-configuration",
		fmt.Sprintf(`{"TopicConfigurations":[{"TopicArn":%q,"Events":["s3:ObjectCreated:*","s3:ObjectRemoved:*"]}]}`, topicArn))
	published := []string{
		`{"distribution":"site","paths":["/news/today.html","/news/é.html"]}`,
		`{"distribution":"site","paths":["/feeds/*"],"tags":["news"]}`,
		// Real S3's encoding: "/" as is, a space as "+".
		`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2024-05-01T12:00:00.000Z",` +
			`"eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"media","arn":"arn:aws:s3:::media"},` +
			`"object":{"key":"docs/red+flower.jpg","size":1024}}}]}`,
	}
	for _, body := range published {
		if _, err := sn.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(body)}); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	e2e.S3Upload(t, ep, "media", "uploads/new post.html")
	// What each payload must invalidate; moto's own S3 test event needs
	// nothing.
	invalidates := map[string][]string{
		published[0]: {"/news/today.html", "/news/%C3%A9.html"},
		published[1]: {"/feeds/*", "#news"},
		published[2]: {"/docs/red%20flower.jpg"},
	}
	wantOf := func(dist, payload string) e2e.Want {
		if items, ok := invalidates[payload]; ok {
			return e2e.Want{Dist: dist, Items: items}
		}
		var v map[string]any
		_ = json.Unmarshal([]byte(payload), &v)
		if v["Event"] == "s3:TestEvent" {
			return e2e.Want{Ignore: "s3:TestEvent"}
		}
		if _, key := e2e.S3Object(v); key == "uploads/new post.html" {
			return e2e.Want{Dist: dist, Items: []string{"/uploads/new%20post.html"}}
		}
		return e2e.Want{Dist: dist} // a payload nobody published: the check names it
	}
	envWants, rawWants := e2e.Wants{}, e2e.Wants{}

	// What moto delivered: 5 messages on each queue, the same payloads,
	// wrapped on one queue and not on the other.
	envMsgs, rawMsgs := e2e.Peek(t, sq, qEnv, 5, 20*time.Second), e2e.Peek(t, sq, qRaw, 5, 20*time.Second)
	t.Logf("moto SNS → SQS (envelope): %s", e2e.Abridge(envMsgs[0].Body, 700))
	var inner, rawBodies []string
	for i, b := range e2e.JSONBodies(t, envMsgs) {
		msg, ok := b["Message"].(string)
		if b["Type"] != "Notification" || b["TopicArn"] != topicArn || !ok {
			t.Errorf("envelope queue: body is not an SNS Notification of %s: %v", topicArn, b)
		}
		inner = append(inner, msg)
		envWants[envMsgs[i].ID] = wantOf(dEnv, msg)
	}
	for _, m := range rawMsgs {
		body := m.Body
		rawWants[m.ID] = wantOf(dRaw, body)
		t.Logf("moto SNS → SQS (raw): %s", e2e.Abridge(body, 300))
		if strings.Contains(body, `"Type": "Notification"`) || strings.Contains(body, `"Type":"Notification"`) {
			t.Errorf("raw queue: body is an SNS envelope: %s", e2e.Abridge(body, 300))
		}
		rawBodies = append(rawBodies, body)
	}
	slices.Sort(inner)
	slices.Sort(rawBodies)
	if !slices.Equal(inner, rawBodies) {
		t.Errorf("the envelopes' Message values differ from the raw bodies:\n%q\n%q", inner, rawBodies)
	}

	wEnv, pEnv := startProducerWorker(t, ep, producerConfig(qEnv, dlqEnv, e2e.Dist{ID: dEnv, Aliases: []string{"site"}, S3: []e2e.S3Source{{Bucket: "media"}}}))
	wRaw, pRaw := startProducerWorker(t, ep, producerConfig(qRaw, dlqRaw, e2e.Dist{ID: dRaw, Aliases: []string{"site"}, S3: []e2e.S3Source{{Bucket: "media"}}}))
	e2e.WaitDrained(t, sq, qEnv, 60*time.Second)
	e2e.WaitDrained(t, sq, qRaw, 60*time.Second)

	want := []string{"/news/today.html", "/news/%C3%A9.html", "/feeds/*", "#news", "/docs/red%20flower.jpg", "/uploads/new%20post.html"}
	for _, c := range []struct {
		name, dist, dlq string
		w               *e2e.Worker
		proxy           *e2e.SQSProxy
		wants           e2e.Wants
	}{{"envelope", dEnv, dlqEnv, wEnv, pEnv, envWants}, {"raw", dRaw, dlqRaw, wRaw, pRaw, rawWants}} {
		invs := e2e.WaitInvalidatedExactly(t, cf, c.dist, want, 30*time.Second)
		e2e.LogInvalidations(t, c.name, invs)
		if v := c.w.Metric(t, e2e.Series("invalidator_messages_ignored_total", "reason", "s3:TestEvent")); v != 1 {
			t.Errorf("%s worker: messages_ignored_total{reason=s3:TestEvent} = %v, want 1", c.name, v)
		}
		if v := e2e.MetricSum(c.w.Metrics(t), "invalidator_messages_dead_lettered_total"); v != 0 {
			t.Errorf("%s worker: messages_dead_lettered_total = %v, want 0", c.name, v)
		}
		e2e.NoMoreDLQ(t, sq, c.dlq)
		e2e.CheckDeletesJustified(t, c.proxy.WaitDeleted(c.wants, 10*time.Second), c.wants, invs)
	}
	wEnv.Stop(t, 10*time.Second)
	wRaw.Stop(t, 10*time.Second)
}

// TestProducerAWSCLI: the aws cli sends a v1 body with a cache tag
// (send-message) and bodies naming the distribution by alias
// (send-message-batch), one of them with an invalid tag; the cli then reads
// the invalidations back (list-invalidations, get-invalidation).
func TestProducerAWSCLI(t *testing.T) {
	moto := testenv.Moto(t)
	ep := moto.Endpoint
	sq := e2e.SQSClient(ep)
	queue, dlq := e2e.CreateQueues(t, sq, "cli-producer", 5, 30*time.Second)
	dist := e2e.CreateDistribution(t, e2e.CFClient(ep), "producers-cli")

	sent := e2e.CLI(t, ep, "sqs", "send-message", "--queue-url", queue, "--message-body",
		fmt.Sprintf(`{"distribution_id":%q,"paths":["/products/42.html"],"tags":["product-42"]}`, dist))
	wants := e2e.Wants{fmt.Sprint(sent["MessageId"]): {Dist: dist, Items: []string{"/products/42.html", "#product-42"}}}
	entries, _ := json.Marshal([]map[string]string{
		{"Id": "alias", "MessageBody": `{"distribution":"shop","paths":["/cart page.html"],"tags":["#category-7"," sale "]}`},
		{"Id": "badtag", "MessageBody": `{"distribution":"shop","paths":["/ok.html"],"tags":["bad,tag"]}`},
	})
	out := e2e.CLI(t, ep, "sqs", "send-message-batch", "--queue-url", queue, "--entries", string(entries))
	ok, _ := e2e.Dig(out, "Successful").([]any)
	if len(ok) != 2 {
		t.Fatalf("send-message-batch: %v", out)
	}
	for _, e := range ok {
		id := fmt.Sprint(e2e.Dig(e, "MessageId"))
		switch e2e.Dig(e, "Id") {
		case "alias":
			wants[id] = e2e.Want{Dist: dist, Items: []string{"/cart%20page.html", "#category-7", "#sale"}}
		case "badtag": // the tag dead-lettered, the path invalidated
			wants[id] = e2e.Want{Dist: dist, Items: []string{"/ok.html"}, DeadLettered: true}
		}
	}

	w, proxy := startProducerWorker(t, ep, producerConfig(queue, dlq, e2e.Dist{ID: dist, Aliases: []string{"shop"}}))
	got := e2e.ReceiveAll(t, sq, dlq, 1, 30*time.Second)
	if len(got) != 1 {
		t.Fatalf("%d DLQ messages, want 1 (the invalid tag)", len(got))
	}
	var part struct {
		DistributionID string   `json:"distribution_id"`
		Paths          []string `json:"paths"`
		Tags           []string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(got[0].Body), &part); err != nil || got[0].ReasonCode != "invalid_tag" ||
		part.DistributionID != dist || !slices.Equal(part.Tags, []string{"bad,tag"}) || len(part.Paths) > 0 {
		t.Errorf("DLQ: %s %s, want invalid_tag with a v1 body of %s holding only the tag bad,tag", got[0].ReasonCode, got[0].Body, dist)
	}
	e2e.WaitDrained(t, sq, queue, 60*time.Second)

	list := e2e.CLI(t, ep, "cloudfront", "list-invalidations", "--distribution-id", dist)
	items, _ := e2e.Dig(list, "InvalidationList", "Items").([]any)
	if len(items) == 0 {
		t.Fatalf("cli list-invalidations: none: %v", list)
	}
	var union []string
	for _, it := range items {
		id, _ := e2e.Dig(it, "Id").(string)
		inv := e2e.CLI(t, ep, "cloudfront", "get-invalidation", "--distribution-id", dist, "--id", id)
		st, _ := e2e.Dig(inv, "Invalidation", "Status").(string)
		ps, _ := e2e.Dig(inv, "Invalidation", "InvalidationBatch", "Paths", "Items").([]any)
		t.Logf("cli get-invalidation %s: %s %v", id, st, ps)
		if !strings.EqualFold(st, "completed") {
			t.Errorf("invalidation %s status %q, want Completed", id, st)
		}
		for _, p := range ps {
			if s := p.(string); !slices.Contains(union, s) {
				union = append(union, s)
			}
		}
	}
	want := []string{"/products/42.html", "#product-42", "/cart%20page.html", "#category-7", "#sale", "/ok.html"}
	slices.Sort(union)
	slices.Sort(want)
	if !slices.Equal(union, want) {
		t.Errorf("cli: invalidated items %q, want exactly %q", union, want)
	}
	if v := e2e.MetricSum(w.Metrics(t), "invalidator_messages_dead_lettered_total"); v != 1 {
		t.Errorf("messages_dead_lettered_total = %v, want 1", v)
	}
	e2e.NoMoreDLQ(t, sq, dlq)
	e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, e2e.FromCloudFront(t, e2e.CFClient(ep), dist), got...)
	w.Stop(t, 10*time.Second)
}

// TestProducerBigMessages: a CMS hook's 5,000 paths in one ~200 KB body are
// all invalidated within CloudFront's per-request limits; with
// max_paths_per_message 1,000 a 1,000-path message passes and a 1,001-path
// one is dead-lettered as too_many_paths.
func TestProducerBigMessages(t *testing.T) {
	moto := testenv.Moto(t)
	ep := moto.Endpoint
	sq, cf := e2e.SQSClient(ep), e2e.CFClient(ep)
	pathList := func(n int, format string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(format, i/100, i)
		}
		return out
	}

	t.Run("5000 paths", func(t *testing.T) {
		queue, dlq := e2e.CreateQueues(t, sq, "big", 5, 30*time.Second)
		dist := e2e.CreateDistribution(t, cf, "producers-big")
		want := pathList(5000, "/catalog/section-%02d/item-%05d.html")
		body := e2e.V1(false, dist, want...)
		t.Logf("body: %d paths, %d bytes", len(want), len(body))
		wants := e2e.Wants{e2e.SendBody(t, sq, queue, body): {Dist: dist, Items: want}}

		w, proxy := startProducerWorker(t, ep, producerConfig(queue, dlq, e2e.Dist{ID: dist}))
		e2e.WaitDrained(t, sq, queue, 90*time.Second)
		e2e.Poll(t, 30*time.Second, 250*time.Millisecond, "5,000 paths covered", func() (bool, string) {
			_, union := e2e.Invalidated(t, cf, dist)
			miss := e2e.Uncovered(want, union)
			return len(miss) == 0, fmt.Sprintf("%d of %d uncovered", len(miss), len(want))
		})
		invs, union := e2e.Invalidated(t, cf, dist)
		e2e.CheckRequestLimits(t, invs)
		e2e.LogInvalidations(t, "5000 paths", invs)
		total := 0
		for _, inv := range invs {
			total += len(inv.Items)
		}
		var wild []string
		for _, p := range union {
			if strings.HasSuffix(p, "*") {
				wild = append(wild, p)
			}
		}
		t.Logf("%d invalidation(s), %d paths in all (%d distinct), wildcards %q", len(invs), total, len(union), wild)
		for _, p := range union {
			if !strings.HasSuffix(p, "*") && !slices.Contains(want, p) {
				t.Errorf("invalidated %q, which the message did not name", p)
			}
		}
		if v := e2e.MetricSum(w.Metrics(t), "invalidator_messages_dead_lettered_total"); v != 0 {
			t.Errorf("messages_dead_lettered_total = %v, want 0", v)
		}
		e2e.NoMoreDLQ(t, sq, dlq)
		e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, invs)
		w.Stop(t, 10*time.Second)
	})

	t.Run("over max_paths_per_message", func(t *testing.T) {
		queue, dlq := e2e.CreateQueues(t, sq, "capped", 5, 30*time.Second)
		dist := e2e.CreateDistribution(t, cf, "producers-capped")
		ok := pathList(1000, "/capped/ok-%02d/%04d.html")
		over := e2e.V1(false, dist, pathList(1001, "/capped/over-%02d/%04d.html")...)
		wants := e2e.Wants{
			e2e.SendBody(t, sq, queue, e2e.V1(false, dist, ok...)): {Dist: dist, Items: ok},
			e2e.SendBody(t, sq, queue, over):                       {DeadLettered: true},
		}

		cfg := producerConfig(queue, dlq, e2e.Dist{ID: dist})
		cfg.MaxPathsPerMessage = 1000
		w, proxy := startProducerWorker(t, ep, cfg)
		got := e2e.ReceiveAll(t, sq, dlq, 1, 30*time.Second)
		if len(got) != 1 {
			t.Fatalf("%d DLQ messages, want 1 (the 1,001-path message)", len(got))
		}
		t.Logf("DLQ: %s — %s", got[0].ReasonCode, got[0].Reason)
		if got[0].ReasonCode != "too_many_paths" {
			t.Errorf("DLQ reason_code %q, want too_many_paths", got[0].ReasonCode)
		}
		if got[0].Body != over {
			t.Errorf("DLQ body (%d bytes) is not the original 1,001-path body (%d bytes)", len(got[0].Body), len(over))
		}
		e2e.WaitDrained(t, sq, queue, 60*time.Second)
		invs := e2e.WaitInvalidatedExactly(t, cf, dist, ok, 30*time.Second)
		t.Logf("1,000-path message: %d invalidation(s)", len(invs))
		if v := w.Metric(t, e2e.Series("invalidator_messages_dead_lettered_total", "reason", "too_many_paths")); v != 1 {
			t.Errorf("messages_dead_lettered_total{reason=too_many_paths} = %v, want 1", v)
		}
		e2e.NoMoreDLQ(t, sq, dlq)
		e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, invs, got...)
		w.Stop(t, 10*time.Second)
	})
}
