package main

// Tests of `worker enqueue`.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/message"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestEnqueuePacks25000Paths: 25,000 paths on stdin become the fewest
// messages (3, at 10,000 items each at most), whose ids are printed, and
// the worker's decoder finds every path in them exactly once.
func TestEnqueuePacks25000Paths(t *testing.T) {
	fq := testenv.Fauxqs(t)
	c := e2e.SQSClient(fq.Endpoint)
	q := e2e.CreateQueue(t, c, "enqueue", nil)
	var in strings.Builder
	want := make([]string, 25000)
	for i := range want {
		want[i] = fmt.Sprintf("/articles/%05d/", i)
		fmt.Fprintf(&in, "%s\n", want[i])
		if i%1000 == 0 {
			in.WriteString("\n") // blank lines are skipped
		}
	}
	res := e2e.Run(t, e2e.Exec{SQS: fq.Endpoint, Stdin: in.String()}, "enqueue", "--queue-url", q, "--distribution", "EDFDVBD6EXAMPLE")
	if res.Code != 0 {
		t.Fatalf("exit %d:\n%s", res.Code, res.Stderr)
	}
	ids := strings.Fields(res.Stdout)
	if len(ids) != 3 {
		t.Fatalf("printed %d message ids, want 3:\n%s", len(ids), res.Stdout)
	}
	got := e2e.ReceiveUntil(t, c, []string{q}, 30*time.Second, func(got map[string][]types.Message) bool { return len(got[q]) >= 3 })[q]
	dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{{ID: "EDFDVBD6EXAMPLE"}}})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, m := range got {
		if !strings.Contains(res.Stdout, aws.ToString(m.MessageId)) {
			t.Errorf("received message %s, whose id was not printed", aws.ToString(m.MessageId))
		}
		d, err := dec.Decode([]byte(aws.ToString(m.Body)))
		if err != nil || len(d.Rejected) > 0 {
			t.Fatalf("the worker would refuse a message: %v %+v", err, d.Rejected)
		}
		for _, p := range d.Targets[0].Paths {
			count[p]++
		}
	}
	for _, p := range want {
		if count[p] != 1 {
			t.Fatalf("path %s arrived %d times", p, count[p])
		}
	}
	if v, nv := e2e.QueueCounts(t, c, q); len(got) != 3 || v+nv != 3 {
		t.Fatalf("received %d, queue holds %d; want exactly 3 messages", len(got), v+nv)
	}
}

// TestEnqueueArgsTagsAndAWSCLI: paths as arguments, "-" adding stdin, tags
// and an alias; the message is read back with the aws cli.
func TestEnqueueArgsTagsAndAWSCLI(t *testing.T) {
	moto := testenv.Moto(t)
	q := e2e.CreateQueue(t, e2e.SQSClient(moto.Endpoint), "enqueue-cli", nil)
	res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint, Stdin: "/from/stdin\n"}, "enqueue", "--queue-url", q, "--distribution", "www",
		"--tag", "product-42", "--tag", "#category-7", "/a", "https://www.example.com/b c", "-")
	if res.Code != 0 || len(strings.Fields(res.Stdout)) != 1 {
		t.Fatalf("exit %d, stdout %q:\n%s", res.Code, res.Stdout, res.Stderr)
	}
	out := testenv.AWSCLI(t, moto.Endpoint, "sqs", "receive-message", "--queue-url", q, "--max-number-of-messages", "10")
	var recv struct {
		Messages []struct{ MessageId, Body string }
	}
	if err := json.Unmarshal([]byte(out), &recv); err != nil || len(recv.Messages) != 1 {
		t.Fatalf("aws sqs receive-message: %v\n%s", err, out)
	}
	if id := strings.TrimSpace(res.Stdout); recv.Messages[0].MessageId != id {
		t.Errorf("cli got message %s, enqueue printed %s", recv.Messages[0].MessageId, id)
	}
	dec, err := message.NewDecoder(message.Options{Distributions: []message.Distribution{{ID: "EDFDVBD6EXAMPLE", Aliases: []string{"www"}}}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := dec.Decode([]byte(recv.Messages[0].Body))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/a", "/b%20c", "/from/stdin", "#product-42", "#category-7"}
	if d.Targets[0].DistributionID != "EDFDVBD6EXAMPLE" || strings.Join(d.Targets[0].Paths, " ") != strings.Join(want, " ") {
		t.Fatalf("decoded %+v, want %q", d.Targets, want)
	}
}

// TestEnqueueUsageErrors: bad command lines and bad input exit 2 before any
// AWS call (the endpoint is a closed port: reaching it would exit 1).
func TestEnqueueUsageErrors(t *testing.T) {
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	q := closed + "/000000000000/q"
	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"enqueue", "--distribution", "E1", "/a"}, "--queue-url is required"},
		{"", []string{"enqueue", "--queue-url", q, "/a"}, "--distribution or --tenant is required"},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1", "--tenant", "dt_1", "/a"}, "not both"},
		{"", []string{"enqueue", "--queue-url", q, "--tenant", "dt_1"}, "no paths and no tags"},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1", "relative/path"}, `"relative/path"`},
		{"/ok\nno-slash\n", []string{"enqueue", "--queue-url", q, "--distribution", "E1"}, `"no-slash"`},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1"}, "no paths and no tags"},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1", "--tag", "a,b"}, `tag "a,b"`},
		{"", []string{"enqueue", "--queue-url", q, "--distribution", "E1", "--max-items", "0", "/a"}, "--max-items"},
		{"", []string{"enqueue", "--bogus"}, "flag provided but not defined"},
	} {
		res := e2e.Run(t, e2e.Exec{SQS: closed, Stdin: tc.stdin}, tc.args...)
		if res.Code != exitUsage || !strings.Contains(res.Stderr, tc.want) || res.Stdout != "" {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, res.Code, res.Stderr, tc.want)
		}
	}
	if res := e2e.Run(t, e2e.Exec{SQS: closed}, "enqueue", "-h"); res.Code != 0 || !strings.Contains(res.Stderr, "usage: worker enqueue") {
		t.Errorf("-h: exit %d:\n%s", res.Code, res.Stderr)
	}
	// A valid request against an endpoint that is not there: exit 1.
	if res := e2e.Run(t, e2e.Exec{SQS: closed}, "enqueue", "--queue-url", q, "--distribution", "E1", "/a"); res.Code != exitFailure {
		t.Errorf("unreachable SQS: exit %d, want 1:\n%s", res.Code, res.Stderr)
	}
}

// TestEnqueueTenant: --tenant by id and by alias through moto's SQS; the
// worker's decoder reads each message as that tenant of its multi-tenant
// distribution.
func TestEnqueueTenant(t *testing.T) {
	const tenant, parent = "dt_2wjDZi3hD1ivOXf6rpZJO1AB", "E3MULTITENANT"
	moto := testenv.Moto(t)
	c := e2e.SQSClient(moto.Endpoint)
	q := e2e.CreateQueue(t, c, "enqueue-tenant", nil)
	var sent []string
	for _, args := range [][]string{
		{"--tenant", tenant, "/index.html", "/assets/*"},
		{"--tenant", "customer-a", "--tag", "plan-pro", "/pricing"},
	} {
		res := e2e.Run(t, e2e.Exec{SQS: moto.Endpoint}, append([]string{"enqueue", "--queue-url", q}, args...)...)
		if res.Code != 0 || len(strings.Fields(res.Stdout)) != 1 {
			t.Fatalf("enqueue %q: exit %d, stdout %q:\n%s", args, res.Code, res.Stdout, res.Stderr)
		}
		sent = append(sent, strings.TrimSpace(res.Stdout))
	}
	got := e2e.ReceiveUntil(t, c, []string{q}, 30*time.Second, func(got map[string][]types.Message) bool { return len(got[q]) >= 2 })[q]
	dec, err := message.NewDecoder(message.Options{Tenants: []message.Tenant{{ID: tenant, Aliases: []string{"customer-a"}, Distribution: parent}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{sent[0]: {"/index.html", "/assets/*"}, sent[1]: {"/pricing", "#plan-pro"}}
	for _, m := range got {
		d, err := dec.Decode([]byte(aws.ToString(m.Body)))
		if err != nil || len(d.Targets) != 1 {
			t.Fatalf("message %s: %v %+v", aws.ToString(m.Body), err, d)
		}
		tg := d.Targets[0]
		w, ok := want[aws.ToString(m.MessageId)]
		if !ok || tg.TenantID != tenant || tg.DistributionID != parent || strings.Join(tg.Paths, " ") != strings.Join(w, " ") {
			t.Errorf("message %s (%s) decodes to %+v; want tenant %s of %s with %q", aws.ToString(m.MessageId), aws.ToString(m.Body), tg, tenant, parent, w)
		}
		delete(want, aws.ToString(m.MessageId))
	}
	if len(want) > 0 {
		t.Fatalf("messages not received: %v", want)
	}
}
