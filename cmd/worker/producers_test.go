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
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestProducerS3Notifications: moto's S3 sends its own event notifications
// (form-encoded keys) straight to the worker's queue. The s3:TestEvent is
// deleted and counted, never dead-lettered; every put and delete becomes
// exactly the CloudFront paths of its key; events of an unmapped bucket are
// dead-lettered as unmapped_bucket, while a key of a mapped bucket outside
// its prefix is ignored and counted (outside_prefix): a prefix is a filter.
func TestProducerS3Notifications(t *testing.T) {
	moto := testenv.Moto(t)
	ep := moto.Endpoint
	sq, cf := sqsClient(ep), cfClient(ep)

	t.Run("direct", func(t *testing.T) {
		queue, dlq := createQueues(t, sq, "s3-direct", 5, 30*time.Second)
		arn := prodQueueArn(t, sq, queue)
		dist := prodS3Distribution(t, cf, "producers-site", "site", "")

		prodCLI(t, ep, "s3api", "create-bucket", "--bucket", "site")
		prodUpload(t, ep, "site", "old/gone.html") // before notifications: no event for its creation
		prodNotifyQueue(t, ep, "site", arn)
		prodCLI(t, ep, "s3api", "create-bucket", "--bucket", "stray")
		prodNotifyQueue(t, ep, "stray", arn)
		keys := []string{"index.html", "my post.html", "café/ü.html", "blog/2024/index.html", "a+b.html", "50%off.html"}
		prodUpload(t, ep, "site", keys...)
		prodUpload(t, ep, "stray", "page.html")
		prodCLI(t, ep, "s3api", "delete-object", "--bucket", "site", "--key", "old/gone.html")

		// What moto sent: 2 test events, 6 + 1 puts, 1 delete.
		bodies := prodBodies(t, prodPeek(t, sq, queue, 10, 20*time.Second))
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
		t.Logf("moto S3 → SQS test event: %s", prodAbridge(string(raw), 200))
		raw, _ = json.Marshal(events[0])
		t.Logf("moto S3 → SQS event: %s", prodAbridge(string(raw), 600))
		sent := prodS3Keys(events)
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

		w := prodStartWorker(t, ep, queue, dlq, []prodDist{{ID: dist, S3: []prodS3{{Bucket: "site"}}}})
		got := receiveAll(t, sq, dlq, 1, 30*time.Second)
		if len(got) != 1 {
			t.Fatalf("%d DLQ messages, want 1 (the stray bucket's put)", len(got))
		}
		if got[0].ReasonCode != "unmapped_bucket" {
			t.Errorf("DLQ message reason_code %q (reason %q), want unmapped_bucket", got[0].ReasonCode, got[0].Reason)
		}
		var dead map[string]any
		if err := json.Unmarshal([]byte(got[0].Body), &dead); err != nil || dig(dead, "Records", 0, "s3", "bucket", "name") != "stray" {
			t.Errorf("DLQ body is not the stray bucket's S3 event (err %v): %s", err, prodAbridge(got[0].Body, 400))
		}
		t.Logf("DLQ: %s — %s", got[0].ReasonCode, got[0].Reason)
		waitDrained(t, sq, queue, 60*time.Second)

		want := []string{
			"/index.html", "/", // index_directories on (the default)
			"/my%20post.html",
			"/caf%C3%A9/%C3%BC.html",
			"/blog/2024/index.html", "/blog/2024/",
			"/a+b.html",      // "a%2Bb.html" as sent: a plus sign, not a space
			"/50%25off.html", // a literal "%" in a key
			"/old/gone.html", // the delete
		}
		invs := prodWaitExact(t, cf, dist, want, 30*time.Second)
		prodLogInvalidations(t, "direct", invs)

		m := w.metrics(t)
		if v := m[prodSeries("invalidator_messages_ignored_total", "reason", "s3:TestEvent")]; v != 2 {
			t.Errorf("messages_ignored_total{reason=s3:TestEvent} = %v, want 2", v)
		}
		if v := metricSum(m, "invalidator_messages_ignored_total"); v != 2 {
			t.Errorf("messages_ignored_total = %v, want 2 (the test events only; the delete must be invalidated, not ignored)", v)
		}
		if v := metricSum(m, "invalidator_messages_dead_lettered_total"); v != 1 ||
			m[prodSeries("invalidator_messages_dead_lettered_total", "reason", "unmapped_bucket")] != 1 {
			t.Errorf("messages_dead_lettered_total = %v, want 1 with reason unmapped_bucket", v)
		}
		prodNoMoreDLQ(t, sq, dlq)
		w.stop(t, 10*time.Second)
	})

	t.Run("prefix+origin_path", func(t *testing.T) {
		queue, dlq := createQueues(t, sq, "s3-prefixed", 5, 30*time.Second)
		arn := prodQueueArn(t, sq, queue)
		// CloudFront fetches https://assets…/site + request path: the object
		// "site/blog/2024/index.html" is served as "/blog/2024/index.html".
		dist := prodS3Distribution(t, cf, "producers-assets", "assets", "/site")
		off := false

		prodCLI(t, ep, "s3api", "create-bucket", "--bucket", "assets")
		prodNotifyQueue(t, ep, "assets", arn)
		prodUpload(t, ep, "assets", "site/my post.html", "site/blog/2024/index.html", "site/café/ü.html", "drafts/wip.html")
		bodies := prodBodies(t, prodPeek(t, sq, queue, 5, 20*time.Second))
		t.Logf("moto S3 → SQS records: %q", prodS3Keys(bodies))

		w := prodStartWorker(t, ep, queue, dlq, []prodDist{{ID: dist, IndexDirectories: &off,
			S3: []prodS3{{Bucket: "assets", Prefix: "site/", OriginPath: "/site"}}}})
		waitDrained(t, sq, queue, 60*time.Second)
		if v := w.metric(t, prodSeries("invalidator_messages_ignored_total", "reason", "outside_prefix")); v != 1 {
			t.Errorf("messages_ignored_total{reason=outside_prefix} = %v, want 1 (drafts/wip.html)", v)
		}

		// Origin path stripped, prefix kept as a filter only; no "/blog/2024/"
		// with index_directories off.
		want := []string{"/my%20post.html", "/blog/2024/index.html", "/caf%C3%A9/%C3%BC.html"}
		invs := prodWaitExact(t, cf, dist, want, 30*time.Second)
		prodLogInvalidations(t, "prefix+origin_path", invs)
		if v := w.metric(t, prodSeries("invalidator_messages_ignored_total", "reason", "s3:TestEvent")); v != 1 {
			t.Errorf("messages_ignored_total{reason=s3:TestEvent} = %v, want 1", v)
		}
		prodNoMoreDLQ(t, sq, dlq)
		w.stop(t, 10*time.Second)
	})

	// S3 → EventBridge → SQS: moto puts the raw key in detail.object.key
	// and, for every put, also sends "Object Tags Added", which changes
	// nothing CloudFront serves.
	t.Run("eventbridge", func(t *testing.T) {
		queue, dlq := createQueues(t, sq, "s3-eventbridge", 5, 30*time.Second)
		dist := prodS3Distribution(t, cf, "producers-events", "events", "")
		prodCLI(t, ep, "events", "put-rule", "--name", "s3-to-invalidator", "--event-pattern", `{"source":["aws.s3"]}`)
		prodCLI(t, ep, "events", "put-targets", "--rule", "s3-to-invalidator", "--targets",
			fmt.Sprintf(`[{"Id":"queue","Arn":%q}]`, prodQueueArn(t, sq, queue)))
		prodCLI(t, ep, "s3api", "create-bucket", "--bucket", "events")
		prodUpload(t, ep, "events", "gone.html") // before notifications: no event
		prodCLI(t, ep, "s3api", "put-bucket-notification-configuration", "--bucket", "events",
			"--notification-configuration", `{"EventBridgeConfiguration":{}}`)
		prodUpload(t, ep, "events", "a b+c/index.html", "café/ü.html")
		prodCLI(t, ep, "s3api", "delete-object", "--bucket", "events", "--key", "gone.html")

		msgs := prodPeek(t, sq, queue, 5, 20*time.Second)
		var seen []string
		for i, b := range prodBodies(t, msgs) {
			if i == 0 {
				t.Logf("moto S3 → EventBridge → SQS: %s", prodAbridge(aws.ToString(msgs[0].Body), 500))
			}
			seen = append(seen, fmt.Sprintf("%v %v", b["detail-type"], dig(b, "detail", "object", "key")))
		}
		slices.Sort(seen)
		t.Logf("moto EventBridge events (detail-type key): %q", seen)
		tagEvents := 0
		for _, s := range seen {
			if strings.HasPrefix(s, "Object Tags Added ") {
				tagEvents++
			}
		}

		w := prodStartWorker(t, ep, queue, dlq, []prodDist{{ID: dist, S3: []prodS3{{Bucket: "events"}}}})
		waitDrained(t, sq, queue, 60*time.Second)
		// The key is not form-encoded here: "+" stays a plus sign.
		want := []string{"/a%20b+c/index.html", "/a%20b+c/", "/caf%C3%A9/%C3%BC.html", "/gone.html"}
		invs := prodWaitExact(t, cf, dist, want, 30*time.Second)
		prodLogInvalidations(t, "eventbridge", invs)
		if v := metricSum(w.metrics(t), "invalidator_messages_ignored_total"); v != float64(tagEvents) {
			t.Errorf("messages_ignored_total = %v, want %d (the Object Tags Added events)", v, tagEvents)
		}
		prodNoMoreDLQ(t, sq, dlq)
		w.stop(t, 10*time.Second)
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
	sq, cf := sqsClient(ep), cfClient(ep)
	queue, dlq := createQueues(t, sq, "s3-query-char", 5, 30*time.Second)
	dist := prodS3Distribution(t, cf, "producers-faq", "faq", "")
	prodCLI(t, ep, "s3api", "create-bucket", "--bucket", "faq")
	prodNotifyQueue(t, ep, "faq", prodQueueArn(t, sq, queue))
	prodUpload(t, ep, "faq", "faq?.html")
	t.Logf("moto S3 → SQS records: %q", prodS3Keys(prodBodies(t, prodPeek(t, sq, queue, 2, 20*time.Second))))

	w := prodStartWorker(t, ep, queue, dlq, []prodDist{{ID: dist, S3: []prodS3{{Bucket: "faq"}}}})
	waitDrained(t, sq, queue, 60*time.Second)
	want := []string{"/faq%3F.html"}
	poll(t, 30*time.Second, 200*time.Millisecond, "an invalidation", func() (bool, string) {
		invs, _ := prodInvalidated(t, cf, dist)
		return len(invs) > 0, "none"
	})
	invs, union := prodInvalidated(t, cf, dist)
	prodLogInvalidations(t, "question mark", invs)
	if !slices.Equal(union, want) {
		t.Errorf("S3 object %q invalidated as %q, want %q", "faq?.html", union, want)
	}
	w.stop(t, 10*time.Second)
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
	sq, cf, sn := sqsClient(ep), cfClient(ep), snsClient(ep)

	qEnv, dlqEnv := createQueues(t, sq, "sns-envelope", 5, 30*time.Second)
	qRaw, dlqRaw := createQueues(t, sq, "sns-raw", 5, 30*time.Second)
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
			Endpoint: aws.String(prodQueueArn(t, sq, s.queue)), ReturnSubscriptionArn: true}
		if s.raw {
			in.Attributes = map[string]string{"RawMessageDelivery": "true"}
		}
		if _, err := sn.Subscribe(ctx, in); err != nil {
			t.Fatalf("Subscribe %s: %v", s.queue, err)
		}
	}
	dEnv := prodS3Distribution(t, cf, "producers-media-envelope", "media", "")
	dRaw := prodS3Distribution(t, cf, "producers-media-raw", "media", "")

	// S3 → SNS: moto publishes an s3:TestEvent now, and an event per put.
	prodCLI(t, ep, "s3api", "create-bucket", "--bucket", "media")
	prodCLI(t, ep, "s3api", "put-bucket-notification-configuration", "--bucket", "media", "--notification-configuration",
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
	prodUpload(t, ep, "media", "uploads/new post.html")

	// What moto delivered: 5 messages on each queue, the same payloads,
	// wrapped on one queue and not on the other.
	envMsgs, rawMsgs := prodPeek(t, sq, qEnv, 5, 20*time.Second), prodPeek(t, sq, qRaw, 5, 20*time.Second)
	t.Logf("moto SNS → SQS (envelope): %s", prodAbridge(aws.ToString(envMsgs[0].Body), 700))
	var inner, rawBodies []string
	for _, b := range prodBodies(t, envMsgs) {
		msg, ok := b["Message"].(string)
		if b["Type"] != "Notification" || b["TopicArn"] != topicArn || !ok {
			t.Errorf("envelope queue: body is not an SNS Notification of %s: %v", topicArn, b)
		}
		inner = append(inner, msg)
	}
	for _, m := range rawMsgs {
		body := aws.ToString(m.Body)
		t.Logf("moto SNS → SQS (raw): %s", prodAbridge(body, 300))
		if strings.Contains(body, `"Type": "Notification"`) || strings.Contains(body, `"Type":"Notification"`) {
			t.Errorf("raw queue: body is an SNS envelope: %s", prodAbridge(body, 300))
		}
		rawBodies = append(rawBodies, body)
	}
	slices.Sort(inner)
	slices.Sort(rawBodies)
	if !slices.Equal(inner, rawBodies) {
		t.Errorf("the envelopes' Message values differ from the raw bodies:\n%q\n%q", inner, rawBodies)
	}

	wEnv := prodStartWorker(t, ep, qEnv, dlqEnv, []prodDist{{ID: dEnv, Aliases: []string{"site"}, S3: []prodS3{{Bucket: "media"}}}})
	wRaw := prodStartWorker(t, ep, qRaw, dlqRaw, []prodDist{{ID: dRaw, Aliases: []string{"site"}, S3: []prodS3{{Bucket: "media"}}}})
	waitDrained(t, sq, qEnv, 60*time.Second)
	waitDrained(t, sq, qRaw, 60*time.Second)

	want := []string{"/news/today.html", "/news/%C3%A9.html", "/feeds/*", "#news", "/docs/red%20flower.jpg", "/uploads/new%20post.html"}
	for _, c := range []struct {
		name, dist, dlq string
		w               *workerProc
	}{{"envelope", dEnv, dlqEnv, wEnv}, {"raw", dRaw, dlqRaw, wRaw}} {
		invs := prodWaitExact(t, cf, c.dist, want, 30*time.Second)
		prodLogInvalidations(t, c.name, invs)
		if v := c.w.metric(t, prodSeries("invalidator_messages_ignored_total", "reason", "s3:TestEvent")); v != 1 {
			t.Errorf("%s worker: messages_ignored_total{reason=s3:TestEvent} = %v, want 1", c.name, v)
		}
		if v := metricSum(c.w.metrics(t), "invalidator_messages_dead_lettered_total"); v != 0 {
			t.Errorf("%s worker: messages_dead_lettered_total = %v, want 0", c.name, v)
		}
		prodNoMoreDLQ(t, sq, c.dlq)
	}
	wEnv.stop(t, 10*time.Second)
	wRaw.stop(t, 10*time.Second)
}

// TestProducerAWSCLI: the aws cli sends a v1 body with a cache tag
// (send-message) and bodies naming the distribution by alias
// (send-message-batch), one of them with an invalid tag; the cli then reads
// the invalidations back (list-invalidations, get-invalidation).
func TestProducerAWSCLI(t *testing.T) {
	moto := testenv.Moto(t)
	ep := moto.Endpoint
	sq := sqsClient(ep)
	queue, dlq := createQueues(t, sq, "cli-producer", 5, 30*time.Second)
	dist := createMotoDistribution(t, cfClient(ep), "producers-cli")

	prodCLI(t, ep, "sqs", "send-message", "--queue-url", queue, "--message-body",
		fmt.Sprintf(`{"distribution_id":%q,"paths":["/products/42.html"],"tags":["product-42"]}`, dist))
	entries, _ := json.Marshal([]map[string]string{
		{"Id": "alias", "MessageBody": `{"distribution":"shop","paths":["/cart page.html"],"tags":["#category-7"," sale "]}`},
		{"Id": "badtag", "MessageBody": `{"distribution":"shop","paths":["/ok.html"],"tags":["bad,tag"]}`},
	})
	out := prodCLI(t, ep, "sqs", "send-message-batch", "--queue-url", queue, "--entries", string(entries))
	if ok, _ := dig(out, "Successful").([]any); len(ok) != 2 {
		t.Fatalf("send-message-batch: %v", out)
	}

	w := prodStartWorker(t, ep, queue, dlq, []prodDist{{ID: dist, Aliases: []string{"shop"}}})
	got := receiveAll(t, sq, dlq, 1, 30*time.Second)
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
	waitDrained(t, sq, queue, 60*time.Second)

	list := prodCLI(t, ep, "cloudfront", "list-invalidations", "--distribution-id", dist)
	items, _ := dig(list, "InvalidationList", "Items").([]any)
	if len(items) == 0 {
		t.Fatalf("cli list-invalidations: none: %v", list)
	}
	var union []string
	for _, it := range items {
		id, _ := dig(it, "Id").(string)
		inv := prodCLI(t, ep, "cloudfront", "get-invalidation", "--distribution-id", dist, "--id", id)
		st, _ := dig(inv, "Invalidation", "Status").(string)
		ps, _ := dig(inv, "Invalidation", "InvalidationBatch", "Paths", "Items").([]any)
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
	if v := metricSum(w.metrics(t), "invalidator_messages_dead_lettered_total"); v != 1 {
		t.Errorf("messages_dead_lettered_total = %v, want 1", v)
	}
	prodNoMoreDLQ(t, sq, dlq)
	w.stop(t, 10*time.Second)
}

// TestProducerBigMessages: a CMS hook's 5,000 paths in one ~200 KB body are
// all invalidated within CloudFront's per-request limits; with
// max_paths_per_message 1,000 a 1,000-path message passes and a 1,001-path
// one is dead-lettered as too_many_paths.
func TestProducerBigMessages(t *testing.T) {
	moto := testenv.Moto(t)
	ep := moto.Endpoint
	sq, cf := sqsClient(ep), cfClient(ep)
	send := func(t *testing.T, queue, body string) {
		t.Helper()
		if _, err := sq.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(body)}); err != nil {
			t.Fatalf("SendMessage (%d bytes): %v", len(body), err)
		}
	}
	pathList := func(n int, format string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf(format, i/100, i)
		}
		return out
	}

	t.Run("5000 paths", func(t *testing.T) {
		queue, dlq := createQueues(t, sq, "big", 5, 30*time.Second)
		dist := createMotoDistribution(t, cf, "producers-big")
		want := pathList(5000, "/catalog/section-%02d/item-%05d.html")
		body := v1(false, dist, want...)
		t.Logf("body: %d paths, %d bytes", len(want), len(body))
		send(t, queue, body)

		w := prodStartWorker(t, ep, queue, dlq, []prodDist{{ID: dist}})
		waitDrained(t, sq, queue, 90*time.Second)
		poll(t, 30*time.Second, 250*time.Millisecond, "5,000 paths covered", func() (bool, string) {
			_, union := prodInvalidated(t, cf, dist)
			miss := uncovered(want, union)
			return len(miss) == 0, fmt.Sprintf("%d of %d uncovered", len(miss), len(want))
		})
		invs, union := prodInvalidated(t, cf, dist)
		prodCheckLimits(t, invs)
		prodLogInvalidations(t, "5000 paths", invs)
		total := 0
		for _, inv := range invs {
			total += len(inv.Paths)
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
		if v := metricSum(w.metrics(t), "invalidator_messages_dead_lettered_total"); v != 0 {
			t.Errorf("messages_dead_lettered_total = %v, want 0", v)
		}
		prodNoMoreDLQ(t, sq, dlq)
		w.stop(t, 10*time.Second)
	})

	t.Run("over max_paths_per_message", func(t *testing.T) {
		queue, dlq := createQueues(t, sq, "capped", 5, 30*time.Second)
		dist := createMotoDistribution(t, cf, "producers-capped")
		ok := pathList(1000, "/capped/ok-%02d/%04d.html")
		over := v1(false, dist, pathList(1001, "/capped/over-%02d/%04d.html")...)
		send(t, queue, v1(false, dist, ok...))
		send(t, queue, over)

		w := prodStartWorker(t, ep, queue, dlq, []prodDist{{ID: dist}}, "INVALIDATOR_MAX_PATHS_PER_MESSAGE=1000")
		got := receiveAll(t, sq, dlq, 1, 30*time.Second)
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
		waitDrained(t, sq, queue, 60*time.Second)
		invs := prodWaitExact(t, cf, dist, ok, 30*time.Second)
		t.Logf("1,000-path message: %d invalidation(s)", len(invs))
		if v := w.metric(t, prodSeries("invalidator_messages_dead_lettered_total", "reason", "too_many_paths")); v != 1 {
			t.Errorf("messages_dead_lettered_total{reason=too_many_paths} = %v, want 1", v)
		}
		prodNoMoreDLQ(t, sq, dlq)
		w.stop(t, 10*time.Second)
	})
}
