package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// TestEndToEndAWSCLI: the aws cli is the producer and the auditor. It
// creates the distribution and the queues in moto, sends v1 messages with
// send-message and send-message-batch, and after the worker drained the
// queue it finds the invalidation with list-invalidations and
// get-invalidation. Each message is deleted only after an invalidation
// created after its send covered it.
func TestEndToEndAWSCLI(t *testing.T) {
	moto := testenv.Moto(t)
	cli := func(args ...string) map[string]any {
		t.Helper()
		out := testenv.AWSCLI(t, moto.Endpoint, args...)
		var v map[string]any
		if strings.TrimSpace(out) == "" {
			return v
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("aws %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
		return v
	}
	str := func(v any, path ...string) string {
		t.Helper()
		for _, k := range path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("cli output: no %q in %v", k, v)
			}
			v = m[k]
		}
		s, ok := v.(string)
		if !ok {
			t.Fatalf("cli output: %v at %v is not a string", v, path)
		}
		return s
	}

	distCfg := `{"CallerReference":"cli-e2e","Comment":"","Enabled":true,` +
		`"Origins":{"Quantity":1,"Items":[{"Id":"origin","DomainName":"origin.example.com",` +
		`"CustomOriginConfig":{"HTTPPort":80,"HTTPSPort":443,"OriginProtocolPolicy":"https-only"}}]},` +
		`"DefaultCacheBehavior":{"TargetOriginId":"origin","ViewerProtocolPolicy":"allow-all"}}`
	distID := str(cli("cloudfront", "create-distribution", "--distribution-config", distCfg), "Distribution", "Id")
	dlqURL := str(cli("sqs", "create-queue", "--queue-name", "cli-dlq"), "QueueUrl")
	dlqArn := str(cli("sqs", "get-queue-attributes", "--queue-url", dlqURL, "--attribute-names", "QueueArn"), "Attributes", "QueueArn")
	redrive, _ := json.Marshal(map[string]string{
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"5"}`, dlqArn),
	})
	queueURL := str(cli("sqs", "create-queue", "--queue-name", "cli", "--attributes", string(redrive)), "QueueUrl")

	sent := cli("sqs", "send-message", "--queue-url", queueURL,
		"--message-body", fmt.Sprintf(`{"distribution_id":%q,"paths":["/index.html","/blog/*"]}`, distID))
	wants := e2e.Wants{str(sent, "MessageId"): {Dist: distID, Items: []string{"/index.html", "/blog/*"}}}
	entries, _ := json.Marshal([]map[string]string{
		{"Id": "1", "MessageBody": `{"distribution":"www","paths":["/about us.html"]}`},
		{"Id": "2", "MessageBody": fmt.Sprintf(`{"distribution_id":%q,"paths":["https://www.example.com/blog/post-1.html"]}`, distID)},
		{"Id": "3", "MessageBody": fmt.Sprintf(`{"distribution_id":%q,"paths":["/ünïcode.css"]}`, distID)},
	})
	out := cli("sqs", "send-message-batch", "--queue-url", queueURL, "--entries", string(entries))
	if failed, _ := out["Failed"].([]any); len(failed) > 0 {
		t.Fatalf("send-message-batch failed entries: %v", out["Failed"])
	}
	batchItems := map[string][]string{"1": {"/about%20us.html"}, "2": {"/blog/post-1.html"}, "3": {"/%C3%BCn%C3%AFcode.css"}}
	for _, s := range out["Successful"].([]any) {
		wants[str(s, "MessageId")] = e2e.Want{Dist: distID, Items: batchItems[str(s, "Id")]}
	}
	if len(wants) != 4 {
		t.Fatalf("the cli reported %d sent messages, want 4: %v", len(wants), out)
	}

	proxy := e2e.NewSQSProxy(t, moto.Endpoint, e2e.ProxyOptions{Serial: true})
	w := e2e.StartWorker(t, e2e.Config{QueueURL: queueURL, Window: "1s", Visibility: "30s", Grace: "5s",
		Distributions: []e2e.Dist{{ID: distID, Aliases: []string{"www"}}}}, proxy.URL, moto.Endpoint)
	e2e.WaitDrained(t, e2e.SQSClient(moto.Endpoint), queueURL, 60*time.Second)

	// The queue is empty as the cli sees it, too.
	attrs := cli("sqs", "get-queue-attributes", "--queue-url", queueURL, "--attribute-names",
		"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
	for _, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"} {
		if got := str(attrs, "Attributes", k); got != "0" {
			t.Errorf("cli: %s = %s after the drain, want 0", k, got)
		}
	}

	list := cli("cloudfront", "list-invalidations", "--distribution-id", distID)
	items, _ := list["InvalidationList"].(map[string]any)["Items"].([]any)
	if len(items) != 1 {
		t.Fatalf("cli list-invalidations: %d invalidations, want 1 (one window): %v", len(items), list)
	}
	id := str(items[0], "Id")
	got := cli("cloudfront", "get-invalidation", "--distribution-id", distID, "--id", id)
	if st := str(got, "Invalidation", "Status"); !strings.EqualFold(st, "completed") {
		t.Errorf("cli get-invalidation status %q, want Completed (moto: COMPLETED)", st)
	}
	var paths []string
	for _, p := range got["Invalidation"].(map[string]any)["InvalidationBatch"].(map[string]any)["Paths"].(map[string]any)["Items"].([]any) {
		paths = append(paths, p.(string))
	}
	want := []string{"/index.html", "/blog/*", "/blog/post-1.html", "/about%20us.html", "/%C3%BCn%C3%AFcode.css"}
	if miss := e2e.Uncovered(want, paths); len(miss) > 0 {
		t.Errorf("cli get-invalidation paths %q do not cover %q", paths, miss)
	}
	if len(paths) != 4 {
		t.Errorf("invalidation paths %q: want 4 (/blog/post-1.html is covered by /blog/*)", paths)
	}
	w.WaitMetric(t, "invalidator_messages_deleted_total", 4, 10*time.Second)
	e2e.CheckDeletesJustified(t, proxy.WaitDeleted(wants, 10*time.Second), wants, e2e.FromCloudFront(t, e2e.CFClient(moto.Endpoint), distID))
	w.Stop(t, 10*time.Second)
}
