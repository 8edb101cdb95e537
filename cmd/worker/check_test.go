package main

// Integration tests of `worker check`: the real binary against moto_server
// (SQS, SNS and CloudFront) and, where moto cannot tell a missing
// distribution from an empty one, the CloudFront simulator. Helpers are
// local and prefixed check, so this file stands on its own.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// checkEnv is the AWS setup of one emulator world.
type checkEnv struct {
	sqsEndpoint, cfEndpoint string
	sqs                     *sqs.Client
	cf                      *cloudfront.Client
	sns                     *sns.Client
}

// checkResult is one run of `worker check`.
type checkResult struct {
	stdout, stderr string
	code           int
}

func newCheckEnv(endpoint string) checkEnv {
	cfg := testenv.AWSConfig()
	return checkEnv{
		sqsEndpoint: endpoint, cfEndpoint: endpoint,
		sqs: sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		cf:  cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		sns: sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(endpoint) }),
	}
}

// checkRun runs `worker check --config <yaml> args...` with env's
// endpoints, test credentials, no profile files and the extra variables.
func checkRun(t *testing.T, e checkEnv, yaml string, extraEnv []string, args ...string) checkResult {
	t.Helper()
	path := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e2e.WorkerBin(), append([]string{"check", "--config", path}, args...)...)
	cmd.Env = append(testenv.CleanEnv(), testenv.AWSEnv(e.sqsEndpoint, e.cfEndpoint)...)
	cmd.Env = append(cmd.Env, "AWS_ENDPOINT_URL_SNS="+e.sqsEndpoint,
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_CONFIG_FILE="+os.DevNull)
	cmd.Env = append(cmd.Env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("worker check: %v", err)
		}
		code = ee.ExitCode()
	}
	if strings.Contains(stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("worker check reported a data race:\n%s", stderr.String())
	}
	return checkResult{stdout.String(), stderr.String(), code}
}

// checkQueue creates a standard queue and returns its URL and ARN.
func checkQueue(t *testing.T, c *sqs.Client, name string, attrs map[string]string) (string, string) {
	t.Helper()
	ctx := context.Background()
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("GetQueueAttributes %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl), a.Attributes["QueueArn"]
}

// checkQueuePair creates name-dlq and name, redriving to it after
// maxReceive receives.
func checkQueuePair(t *testing.T, c *sqs.Client, name string, maxReceive int) (queueURL, dlqURL string) {
	t.Helper()
	dlqURL, dlqARN := checkQueue(t, c, name+"-dlq", nil)
	queueURL, _ = checkQueue(t, c, name, map[string]string{"VisibilityTimeout": "30",
		"RedrivePolicy": fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, dlqARN, maxReceive)})
	return queueURL, dlqURL
}

// checkDistribution creates the smallest distribution moto accepts.
func checkDistribution(t *testing.T, c *cloudfront.Client, ref string) string {
	t.Helper()
	out, err := c.CreateDistribution(context.Background(), &cloudfront.CreateDistributionInput{
		DistributionConfig: &cftypes.DistributionConfig{
			CallerReference: aws.String(ref), Comment: aws.String(""), Enabled: aws.Bool(true),
			Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
				Id: aws.String("origin"), DomainName: aws.String("origin.example.com"),
				CustomOriginConfig: &cftypes.CustomOriginConfig{HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(443),
					OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly},
			}}},
			DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
				TargetOriginId: aws.String("origin"), ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll,
			},
		},
	})
	if err != nil {
		t.Fatalf("CreateDistribution: %v", err)
	}
	return aws.ToString(out.Distribution.Id)
}

func checkInvalidations(t *testing.T, c *cloudfront.Client, dist string) int {
	t.Helper()
	out, err := c.ListInvalidations(context.Background(), &cloudfront.ListInvalidationsInput{DistributionId: aws.String(dist)})
	if err != nil {
		t.Fatalf("ListInvalidations %s: %v", dist, err)
	}
	return len(out.InvalidationList.Items)
}

func checkCounts(t *testing.T, c *sqs.Client, queueURL string) (visible, notVisible int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatalf("GetQueueAttributes counts: %v", err)
	}
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	notVisible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, notVisible
}

// checkYAML is a worker config; dists are the allow-list.
func checkYAML(queueURL, dlqURL string, dists []string, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "queue_url: %s\n", queueURL)
	if dlqURL != "" {
		fmt.Fprintf(&b, "dead_letter_queue_url: %s\n", dlqURL)
	}
	b.WriteString("http_addr: \"\"\ndistributions:\n")
	for _, d := range dists {
		fmt.Fprintf(&b, "  - id: %s\n", d)
	}
	return b.String() + extra
}

// checkLines are the check lines of the text output: the marked ones, not
// the indented remedies or the summary.
func checkLines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "✓ ") || strings.HasPrefix(l, "✗ ") || strings.HasPrefix(l, "– ") {
			ls = append(ls, l)
		}
	}
	return ls
}

// checkWantLine fails unless a line starts with prefix and, when fix is not
// "", the next line is its remedy containing fix.
func checkWantLine(t *testing.T, out, prefix, fix string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		if fix == "" {
			return
		}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    fix: ") && strings.Contains(lines[i+1], fix) {
			return
		}
		t.Errorf("line %q: remedy %q lacks %q", l, lines[min(i+1, len(lines)-1)], fix)
		return
	}
	t.Errorf("no line starting %q in:\n%s", prefix, out)
}

func TestCheckAgainstMoto(t *testing.T) {
	moto := testenv.Moto(t)
	e := newCheckEnv(moto.Endpoint)
	ctx := context.Background()
	queue, dlq := checkQueuePair(t, e.sqs, "chk", 5)
	dist := checkDistribution(t, e.cf, "chk")
	// An existing invalidation, so GetInvalidation can be proved too.
	if _, err := e.cf.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: aws.String(dist),
		InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String("chk"),
			Paths: &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/index.html"}}}}); err != nil {
		t.Fatalf("CreateInvalidation: %v", err)
	}
	topic, err := e.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("chk-done")})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	done, _ := checkQueue(t, e.sqs, "chk-done", nil)
	// A producer's message waits: the check must leave it where it is.
	if _, err := e.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue),
		MessageBody: aws.String(`{"distribution_id":"` + dist + `","paths":["/a"]}`)}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	good := checkYAML(queue, dlq, []string{dist}, fmt.Sprintf("completion_topic_arn: %s\ncompletion_queue_url: %s\n",
		aws.ToString(topic.TopicArn), done))

	t.Run("good setup", func(t *testing.T) {
		res := checkRun(t, e, good, nil)
		t.Logf("worker check:\n%s", res.stdout)
		if res.code != exitOK {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
		}
		for _, l := range checkLines(res.stdout) {
			if !strings.HasPrefix(l, "✓ ") && !strings.HasPrefix(l, "– ") {
				t.Errorf("line %q is neither passed nor not-checked", l)
			}
		}
		for _, p := range []string{"✓ credentials: from EnvConfigCredentials", "✓ region: us-east-1", "✓ queue " + queue + ": exists",
			"✓ queue.redrive_policy " + queue, "✓ queue.max_receive_count " + queue, "✓ dlq " + dlq, "✓ dlq.matches_redrive " + dlq,
			"✓ dlq.retention " + dlq, "✓ distribution " + dist + ": exists", "✓ distribution.get_invalidation " + dist,
			"✓ completion.topic " + aws.ToString(topic.TopicArn), "✓ completion.queue " + done,
			"– distribution.create_invalidation " + dist + ": not checked", "– queue.consume " + queue + ": not checked",
			"– dlq.send " + dlq + ": not checked", "– completion.publish", "– completion.send"} {
			checkWantLine(t, res.stdout, p, "")
		}
		if !strings.Contains(res.stdout, "worker check: ") || !strings.Contains(res.stdout, " 0 failed,") {
			t.Errorf("no summary with 0 failed:\n%s", res.stdout)
		}
		// Read-only: the message is still waiting and visible, nothing was
		// dead-lettered or announced, no invalidation was created.
		if v, nv := checkCounts(t, e.sqs, queue); v != 1 || nv != 0 {
			t.Errorf("queue after check: visible %d, in flight %d; want 1, 0", v, nv)
		}
		for _, q := range []string{dlq, done} {
			if v, nv := checkCounts(t, e.sqs, q); v+nv != 0 {
				t.Errorf("%s after check: %d messages, want none", q, v+nv)
			}
		}
		if n := checkInvalidations(t, e.cf, dist); n != 1 {
			t.Errorf("%d invalidations after check, want the 1 made by the test", n)
		}
	})

	t.Run("json", func(t *testing.T) {
		res := checkRun(t, e, good, nil, "--json")
		if res.code != exitOK {
			t.Fatalf("exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		var names []string
		for _, l := range lines {
			var r struct{ Name, Target, Status, Detail string }
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			if r.Status != "pass" && r.Status != "skip" {
				t.Errorf("status %q in %s", r.Status, l)
			}
			names = append(names, r.Name)
		}
		for _, want := range []string{"credentials", "region", "queue", "queue.max_receive_count", "dlq.matches_redrive", "distribution",
			"distribution.create_invalidation", "completion.topic"} {
			if !slices.Contains(names, want) {
				t.Errorf("--json lacks %q: %q", want, names)
			}
		}
	})

	t.Run("wrong queue url", func(t *testing.T) {
		wrong := strings.TrimSuffix(queue, "chk") + "chk-typo"
		res := checkRun(t, e, checkYAML(wrong, dlq, []string{dist}, ""), nil)
		if res.code != exitFailure {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		checkWantLine(t, res.stdout, "✗ queue "+wrong+": sqs GetQueueAttributes", "fix queue_url (INVALIDATOR_QUEUE_URL)")
		if !strings.Contains(res.stdout, " 1 failed,") {
			t.Errorf("want exactly the queue to fail:\n%s", res.stdout)
		}
	})

	t.Run("environment overrides the file", func(t *testing.T) {
		wrong := strings.TrimSuffix(queue, "chk") + "chk-env"
		res := checkRun(t, e, good, []string{"INVALIDATOR_QUEUE_URL=" + wrong})
		if res.code != exitFailure {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		checkWantLine(t, res.stdout, "✗ queue "+wrong, "fix queue_url")
	})

	t.Run("dlq mismatch", func(t *testing.T) {
		other, _ := checkQueue(t, e.sqs, "chk-other-dlq", nil)
		res := checkRun(t, e, checkYAML(queue, other, []string{dist}, ""), nil)
		if res.code != exitFailure {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		checkWantLine(t, res.stdout, "✗ dlq.matches_redrive "+other+": dead_letter_queue_url is arn:aws:sqs:us-east-1:",
			"set dead_letter_queue_url to the URL of chk-dlq")
		checkWantLine(t, res.stdout, "✓ dlq.redrive_target ", "")
		if !strings.Contains(res.stdout, " 1 failed,") {
			t.Errorf("want only the mismatch to fail:\n%s", res.stdout)
		}
	})

	t.Run("max receive count too low", func(t *testing.T) {
		low, _ := checkQueuePair(t, e.sqs, "chk-low", 1)
		res := checkRun(t, e, checkYAML(low, "", []string{dist}, ""), nil)
		if res.code != exitFailure {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		checkWantLine(t, res.stdout, "✗ queue.max_receive_count "+low+": maxReceiveCount 1 is below 5", "at least 5")
	})

	// moto answers ListInvalidations of an unknown distribution with an
	// empty list (cfsim's conformance test, moto difference 5), where
	// CloudFront answers NoSuchDistribution; the simulator answers like
	// CloudFront, and also denies.
	t.Run("missing and denied distribution", func(t *testing.T) {
		sim := httptest.NewServer(cfsim.New(cfsim.Options{Distributions: []string{"EGOOD"}, Denied: []string{"EDENIED"}}))
		t.Cleanup(sim.Close)
		se := e
		se.cfEndpoint = sim.URL
		res := checkRun(t, se, checkYAML(queue, dlq, []string{"EGOOD", "EMISSING", "EDENIED"}, ""), nil)
		if res.code != exitFailure {
			t.Fatalf("exit %d, want 1\n%s", res.code, res.stdout)
		}
		checkWantLine(t, res.stdout, "✓ distribution EGOOD: exists", "")
		checkWantLine(t, res.stdout, "✗ distribution EMISSING: cloudfront ListInvalidations", "no distribution EMISSING in the account of these credentials: fix distributions[1].id")
		checkWantLine(t, res.stdout, "✗ distribution EDENIED: cloudfront ListInvalidations",
			"grant cloudfront:ListInvalidations, cloudfront:GetInvalidation and cloudfront:CreateInvalidation on arn:aws:cloudfront::ACCOUNT_ID:distribution/EDENIED")
		if !strings.Contains(res.stdout, " 2 failed,") {
			t.Errorf("want the two distributions to fail, nothing else:\n%s", res.stdout)
		}
	})
}

// Bad command lines and configs exit 2 before any AWS call, as `worker run`.
func TestCheckUsage(t *testing.T) {
	e := checkEnv{sqsEndpoint: "http://127.0.0.1:1", cfEndpoint: "http://127.0.0.1:1"} // nothing listens
	for _, tc := range []struct {
		name, yaml string
		args       []string
		code       int
		stderr     string
	}{
		{"no queue_url", "distributions: [{id: E1}]\n", nil, exitUsage, "worker: config: queue_url: required"},
		{"unknown key", checkYAML("http://127.0.0.1:1/1/q", "", []string{"E1"}, "pollerz: 2\n"), nil, exitUsage, `unknown key "pollerz"`},
		{"unknown flag", checkYAML("http://127.0.0.1:1/1/q", "", []string{"E1"}, ""), []string{"--jsn"}, exitUsage, "flag provided but not defined"},
		{"stray argument", checkYAML("http://127.0.0.1:1/1/q", "", []string{"E1"}, ""), []string{"extra"}, exitUsage, `unexpected argument "extra"`},
		{"help", checkYAML("http://127.0.0.1:1/1/q", "", []string{"E1"}, ""), []string{"-h"}, exitOK, "Exit codes: 0 every check passed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := checkRun(t, e, tc.yaml, nil, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.stderr) {
				t.Errorf("exit %d (want %d), stderr:\n%s\nwant %q", res.code, tc.code, res.stderr, tc.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want none", res.stdout)
			}
		})
	}
}
