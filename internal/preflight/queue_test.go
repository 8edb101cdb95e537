package preflight

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

func testQueue() Queue {
	return Queue{URL: qURL, URLKey: "queue_url", DLQURL: dlqURL, DLQKey: "dead_letter_queue_url",
		Visibility: time.Minute, VisibilityKey: "visibility_timeout", MaxHold: time.Hour}
}

// The queue lines every queue that can be read gets, before the DLQ ones.
var queueHead = []string{"queue=pass", "queue.type=pass", "queue.visibility=pass", "queue.retention=pass", "queue.consume=skip"}

func head(more ...string) []string { return append(slices.Clone(queueHead), more...) }

func TestCheckQueueGood(t *testing.T) {
	f := standardQueues()
	rs := CheckQueue(context.Background(), f, region, testQueue())
	wantSummary(t, rs, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
		"dlq.distinct=pass", "dlq=pass", "dlq.matches_redrive=pass", "dlq.retention=pass", "dlq.send=skip")...)
	wantText(t, find(t, rs, "queue"), qARN)
	wantText(t, find(t, rs, "queue.visibility"), "the same as visibility_timeout")
	wantText(t, find(t, rs, "queue.retention"), "4d", "1h")
	wantText(t, find(t, rs, "dlq.retention"), "14d", "4d")
	wantText(t, find(t, rs, "queue.consume"), "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", qARN)
	wantText(t, find(t, rs, "dlq.send"), "sqs:SendMessage", dlqARN)
	// Only reads, and the matching DLQ is not looked up twice.
	want := []string{"GetQueueAttributes " + qURL, "GetQueueAttributes " + dlqURL}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls = %q, want %q", f.calls, want)
	}
}

// Without dead_letter_queue_url the worker finds the DLQ through the
// RedrivePolicy with GetQueueUrl; so does the check.
func TestCheckQueueDiscoveredDLQ(t *testing.T) {
	q := testQueue()
	q.DLQURL = ""
	rs := CheckQueue(context.Background(), standardQueues(), region, q)
	wantSummary(t, rs, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
		"dlq.redrive_target=pass", "dlq.retention=pass", "dlq.send=skip")...)
	wantText(t, find(t, rs, "dlq.redrive_target"), "exists: "+dlqURL)
	if r := find(t, rs, "dlq.send"); r.Target != dlqURL {
		t.Errorf("dlq.send target = %q, want the discovered %q", r.Target, dlqURL)
	}
}

func TestCheckQueueUnreadable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		wants []string
	}{
		{"missing", nil, []string{"QueueDoesNotExist", "fix queue_url (INVALIDATOR_QUEUE_URL)", "AWS_REGION"}},
		{"denied", errDeniedSQS, []string{"grant sqs:GetQueueAttributes on " + qARN}},
		{"legacy code", &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue"}, []string{"fix queue_url"}},
		{"credentials", &smithy.GenericAPIError{Code: "InvalidClientTokenId"}, []string{"credentials were refused"}},
		{"network", errNetwork, []string{"connection refused", "AWS_ENDPOINT_URL_"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := standardQueues()
			if tc.err != nil {
				f.attrErr = map[string]error{qURL: tc.err}
			} else {
				delete(f.queues, qURL)
			}
			rs := CheckQueue(context.Background(), f, region, testQueue())
			wantSummary(t, rs, "queue=fail", "queue.others=skip")
			wantText(t, rs[0], tc.wants...)
		})
	}
}

func TestCheckQueueBadURL(t *testing.T) {
	q := testQueue()
	q.URL = host + "/q"
	f := standardQueues()
	rs := CheckQueue(context.Background(), f, region, q)
	wantSummary(t, rs, "queue=fail")
	wantText(t, rs[0], "ACCOUNT_ID/QUEUE_NAME", "fix queue_url")
	if len(f.calls) != 0 {
		t.Errorf("calls %q for an unparseable URL", f.calls)
	}
}

// The SDK sends calls to its own region, whatever host the URL names.
func TestCheckQueueOtherRegion(t *testing.T) {
	q := testQueue()
	q.URL = "https://sqs.eu-west-1.amazonaws.com/" + account + "/q"
	f := standardQueues()
	rs := CheckQueue(context.Background(), f, region, q)
	wantSummary(t, rs, "queue=fail")
	wantText(t, rs[0], "queue in eu-west-1", "region is us-east-1", "AWS_REGION=eu-west-1")
	if len(f.calls) != 0 {
		t.Errorf("calls %q for a queue in another region", f.calls)
	}
}

func TestCheckQueueAttributes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		set    map[string]string
		q      func(*Queue)
		check  string
		status Status
		wants  []string
	}{
		{"fifo", map[string]string{"FifoQueue": "true"}, nil, "queue.type", Fail, []string{"FIFO", "standard queue for queue_url"}},
		{"visibility differs", map[string]string{"VisibilityTimeout": "30"}, nil, "queue.visibility", Pass,
			[]string{"queue default 30s", "visibility_timeout 1m", "only to other consumers"}},
		{"visibility unreadable", map[string]string{"VisibilityTimeout": ""}, nil, "queue.visibility", Pass, []string{"unreadable"}},
		{"retention below max_hold", map[string]string{"MessageRetentionPeriod": "1800"}, nil, "queue.retention", Fail,
			[]string{"30m", "shorter than max_hold 1h", "MessageRetentionPeriod above 1h"}},
		{"retention below a distribution's max_hold", nil, func(q *Queue) { q.MaxHold = 5 * 24 * time.Hour }, "queue.retention", Fail,
			[]string{"4d", "max_hold 5d"}},
		{"retention missing", map[string]string{"MessageRetentionPeriod": ""}, nil, "queue.retention", Skip, []string{"no MessageRetentionPeriod"}},
		{"max receive too low", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"2"}`}, nil,
			"queue.max_receive_count", Fail, []string{"maxReceiveCount 2 is below 5", "shutdown release", "at least 5"}},
		{"max receive as string", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"10"}`}, nil,
			"queue.max_receive_count", Pass, []string{"maxReceiveCount 10"}},
		{"max receive unreadable", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"x"}`}, nil,
			"queue.max_receive_count", Fail, []string{"unreadable"}},
		{"max receive zero", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":0}`}, nil,
			"queue.max_receive_count", Fail, []string{"unreadable"}},
		{"redrive policy not JSON", map[string]string{"RedrivePolicy": `{`}, nil, "queue.redrive_policy", Fail, []string{"unreadable", "deadLetterTargetArn"}},
		{"redrive target not an ARN", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"q-dlq","maxReceiveCount":5}`}, nil,
			"queue.redrive_policy", Fail, []string{"not an SQS queue ARN"}},
		{"kms", map[string]string{"KmsMasterKeyId": "alias/invalidations"}, nil, "queue.kms", Skip, []string{"alias/invalidations", "kms:Decrypt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := standardQueues()
			for k, v := range tc.set {
				if v == "" {
					delete(f.queues[qURL], k)
				} else {
					f.queues[qURL][k] = v
				}
			}
			q := testQueue()
			if tc.q != nil {
				tc.q(&q)
			}
			rs := CheckQueue(context.Background(), f, region, q)
			r := find(t, rs, tc.check)
			if r.Status != tc.status {
				t.Errorf("%s status = %s, want %s\n%s", tc.check, r.Status, tc.status, dump(rs))
			}
			wantText(t, r, tc.wants...)
			if failed := Failed(rs); failed != (tc.status == Fail) {
				t.Errorf("Failed = %v with %s %s\n%s", failed, tc.check, tc.status, dump(rs))
			}
		})
	}
}

func TestCheckQueueNoRedrivePolicy(t *testing.T) {
	f := standardQueues()
	delete(f.queues[qURL], "RedrivePolicy")

	rs := CheckQueue(context.Background(), f, region, testQueue())
	wantSummary(t, rs, head("queue.redrive_policy=fail", "dlq.distinct=pass", "dlq=pass", "dlq.send=skip")...)
	wantText(t, find(t, rs, "queue.redrive_policy"), "redelivered forever", "deadLetterTargetArn = the ARN of dead_letter_queue_url", "≥ 5")

	q := testQueue()
	q.DLQURL = ""
	rs = CheckQueue(context.Background(), f, region, q)
	wantSummary(t, rs, head("queue.redrive_policy=fail")...)
	wantText(t, find(t, rs, "queue.redrive_policy"), "no dead-letter queue", "invalidator_poison_kept_total", "create a dead-letter queue")
}

// A DLQ named differently (another host spelling, a URL against an ARN)
// is still compared as the same queue.
func TestCheckQueueDLQIsQueue(t *testing.T) {
	q := testQueue()
	q.DLQURL = "http://localhost:4566/" + account + "/q" // same account and name as the queue
	rs := CheckQueue(context.Background(), standardQueues(), region, q)
	wantSummary(t, rs, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
		"dlq.distinct=fail", "dlq.redrive_target=pass", "dlq.retention=pass", "dlq.send=skip")...)
	wantText(t, find(t, rs, "dlq.distinct"), "names the queue itself", "straight back")
}

func TestCheckQueueDLQMismatch(t *testing.T) {
	f := standardQueues()
	other := host + "/" + account + "/other-dlq"
	f.queues[other] = map[string]string{"QueueArn": "arn:aws:sqs:" + region + ":" + account + ":other-dlq", "MessageRetentionPeriod": "1209600"}
	q := testQueue()
	q.DLQURL = other
	rs := CheckQueue(context.Background(), f, region, q)
	wantSummary(t, rs, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
		"dlq.distinct=pass", "dlq=pass", "dlq.matches_redrive=fail", "dlq.redrive_target=pass", "dlq.retention=pass", "dlq.send=skip")...)
	r := find(t, rs, "dlq.matches_redrive")
	wantText(t, r, ":other-dlq", "moves messages to "+dlqARN, "split over two queues", "set dead_letter_queue_url to the URL of q-dlq")
	if s := find(t, rs, "dlq.send"); s.Target != other {
		t.Errorf("dlq.send target = %q, want the configured %q (where the worker sends)", s.Target, other)
	}
	if rt := find(t, rs, "dlq.retention"); rt.Target != dlqURL {
		t.Errorf("dlq.retention target = %q, want the redrive target %q", rt.Target, dlqURL)
	}
}

// AWS hosts name the region; a URL on one and the RedrivePolicy's ARN
// agree when region, account and name do.
func TestCheckQueueDLQAWSHosts(t *testing.T) {
	for _, h := range []string{"https://sqs.us-east-1.amazonaws.com", "https://queue.amazonaws.com", "https://us-east-1.queue.amazonaws.com"} {
		t.Run(h, func(t *testing.T) {
			f := standardQueues()
			f.attrErr = map[string]error{} // the worker's policy: no GetQueueAttributes on the DLQ
			q := testQueue()
			q.DLQURL = h + "/" + account + "/q-dlq"
			f.attrErr[q.DLQURL] = errDeniedSQS
			rs := CheckQueue(context.Background(), f, region, q)
			if r := find(t, rs, "dlq.matches_redrive"); r.Status != Pass {
				t.Errorf("matches_redrive = %s: %s", r.Status, r.Detail)
			}
			wantText(t, find(t, rs, "dlq"), "found by name with GetQueueUrl")
		})
	}
}

func TestCheckQueueConfiguredDLQ(t *testing.T) {
	for _, tc := range []struct {
		name    string
		attrErr error
		urlErr  error
		remove  bool
		want    []string
		text    string
	}{
		{"missing", nil, nil, true, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
			"dlq.distinct=pass", "dlq=fail", "dlq.redrive_target=fail", "dlq.send=skip"), "create it, or fix dead_letter_queue_url (INVALIDATOR_DEAD_LETTER_QUEUE_URL)"},
		{"attributes denied", errDeniedSQS, nil, false, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
			"dlq.distinct=pass", "dlq=pass", "dlq.matches_redrive=pass", "dlq.retention=skip", "dlq.send=skip"), "GetQueueUrl"},
		{"attributes and url denied", errDeniedSQS, errDeniedSQS, false, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
			"dlq.distinct=pass", "dlq=skip", "dlq.redrive_target=skip", "dlq.send=skip"), "grant sqs:GetQueueUrl on " + dlqARN},
		{"attributes denied, url missing", errDeniedSQS, errNoQueue, false, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
			"dlq.distinct=pass", "dlq=fail", "dlq.redrive_target=fail", "dlq.send=skip"), "fix dead_letter_queue_url"},
		{"attributes network error", errNetwork, nil, false, head("queue.redrive_policy=pass", "queue.max_receive_count=pass",
			"dlq.distinct=pass", "dlq=fail", "dlq.redrive_target=pass", "dlq.retention=fail", "dlq.send=skip"), "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := standardQueues()
			f.attrErr = map[string]error{dlqURL: tc.attrErr}
			f.urlErr = map[string]error{"q-dlq": tc.urlErr}
			if tc.remove {
				delete(f.queues, dlqURL)
			}
			rs := CheckQueue(context.Background(), f, region, testQueue())
			wantSummary(t, rs, tc.want...)
			wantText(t, find(t, rs, "dlq"), tc.text)
		})
	}
}

func TestCheckQueueConfiguredDLQBadURL(t *testing.T) {
	q := testQueue()
	q.DLQURL = host + "/" + account
	rs := CheckQueue(context.Background(), standardQueues(), region, q)
	wantText(t, find(t, rs, "dlq"), "not a queue URL", "fix dead_letter_queue_url")

	q.DLQURL = "https://sqs.eu-west-1.amazonaws.com/" + account + "/q-dlq"
	rs = CheckQueue(context.Background(), standardQueues(), region, q)
	wantText(t, find(t, rs, "dlq"), "queue in eu-west-1", "AWS_REGION=eu-west-1")
}

func TestCheckQueueRedriveTarget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		withDLQ  bool // dead_letter_queue_url set, to another queue than the target
		err      error
		remove   bool
		status   Status
		fragment string
	}{
		{"missing", false, nil, true, Fail, "create q-dlq or point deadLetterTargetArn at an existing queue"},
		{"denied, the worker needs it", false, errDeniedSQS, false, Fail, "grant sqs:GetQueueUrl on " + dlqARN + " (the worker finds"},
		{"denied, the worker does not need it", true, errDeniedSQS, false, Skip, "grant sqs:GetQueueUrl on " + dlqARN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := standardQueues()
			f.urlErr = map[string]error{"q-dlq": tc.err}
			if tc.remove {
				delete(f.queues, dlqURL)
			}
			q := testQueue()
			q.DLQURL = ""
			if tc.withDLQ {
				other := host + "/" + account + "/other"
				f.queues[other] = map[string]string{"QueueArn": "arn:aws:sqs:" + region + ":" + account + ":other"}
				q.DLQURL = other
			}
			rs := CheckQueue(context.Background(), f, region, q)
			r := find(t, rs, "dlq.redrive_target")
			if r.Status != tc.status {
				t.Errorf("status %s, want %s\n%s", r.Status, tc.status, dump(rs))
			}
			wantText(t, r, tc.fragment)
			for _, r := range rs {
				if r.Name == "dlq.retention" {
					t.Errorf("retention checked on an unreachable target:\n%s", dump(rs))
				}
			}
		})
	}
}

func TestCheckQueueDLQRetention(t *testing.T) {
	f := standardQueues()
	f.queues[dlqURL]["MessageRetentionPeriod"] = "86400"
	rs := CheckQueue(context.Background(), f, region, testQueue())
	r := find(t, rs, "dlq.retention")
	if r.Status != Fail {
		t.Fatalf("status %s\n%s", r.Status, dump(rs))
	}
	wantText(t, r, "1d", "shorter than the queue's 4d", "original enqueue time", "above 4d")

	f.queues[dlqURL]["MessageRetentionPeriod"] = "345600" // equal: not shorter
	if r := find(t, CheckQueue(context.Background(), f, region, testQueue()), "dlq.retention"); r.Status != Pass {
		t.Errorf("equal retention: %s %s", r.Status, r.Detail)
	}

	delete(f.queues[dlqURL], "MessageRetentionPeriod")
	if r := find(t, CheckQueue(context.Background(), f, region, testQueue()), "dlq.retention"); r.Status != Skip {
		t.Errorf("unreported retention: %s %s", r.Status, r.Detail)
	}
}

func TestPreflightParseQueueURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want queueID
		err  string
	}{
		{"https://sqs.eu-west-1.amazonaws.com/123456789012/q", queueID{"eu-west-1", account, "q"}, ""},
		{"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", queueID{"cn-north-1", account, "q"}, ""},
		{"https://vpce-0a1b-2c3d.sqs.us-west-2.vpce.amazonaws.com/123456789012/q", queueID{"us-west-2", account, "q"}, ""},
		{"https://ap-south-1.queue.amazonaws.com/123456789012/q", queueID{"ap-south-1", account, "q"}, ""},
		{"https://queue.amazonaws.com/123456789012/q", queueID{"us-east-1", account, "q"}, ""},
		{"http://127.0.0.1:5000/123456789012/q/", queueID{region, account, "q"}, ""}, // emulator: the SDK's region
		{"http://127.0.0.1:5000/q", queueID{}, "not a queue URL"},
		{"http://127.0.0.1:5000/a/b/c", queueID{}, "not a queue URL"},
		{"http://[::1", queueID{}, "not a URL"},
	} {
		got, err := parseQueueURL(tc.url, region)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseQueueURL(%q) error %v, want %q", tc.url, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("parseQueueURL(%q) = %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
}

func TestPreflightParseQueueARN(t *testing.T) {
	if got, err := parseQueueARN("arn:aws-cn:sqs:cn-north-1:123456789012:q"); err != nil || got != (queueID{"cn-north-1", account, "q"}) {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"", "q", "arn:aws:sns:us-east-1:123456789012:q", "arn:aws:sqs::123456789012:q", "arn:aws:sqs:us-east-1:123456789012:"} {
		if _, err := parseQueueARN(bad); err == nil {
			t.Errorf("parseQueueARN(%q) accepted", bad)
		}
	}
}

func TestPreflightHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30s", time.Minute: "1m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		4 * 24 * time.Hour: "4d", 25 * time.Hour: "25h", 61 * time.Second: "1m1s",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%s) = %q, want %q", d, got, want)
		}
	}
}

// Same name is not the same queue: a DLQ of that name in another account
// (or region) is another queue.
func TestCheckQueueDLQSameNameOtherAccount(t *testing.T) {
	f := standardQueues()
	other := host + "/999999999999/q-dlq"
	f.queues[other] = map[string]string{"QueueArn": "arn:aws:sqs:" + region + ":999999999999:q-dlq"}
	q := testQueue()
	q.DLQURL = other
	r := find(t, CheckQueue(context.Background(), f, region, q), "dlq.matches_redrive")
	if r.Status != Fail {
		t.Fatalf("status %s: %s", r.Status, r.Detail)
	}
	wantText(t, r, "999999999999:q-dlq", "moves messages to "+dlqARN)
}
