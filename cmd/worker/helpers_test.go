package main

// Helpers of the integration tests: build the real binary once, run it as a
// child process against emulators, and look at what it did through the same
// interfaces an operator has (SQS, CloudFront, /metrics).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/cfsim"
	"github.com/acme/cf-invalidator/internal/testenv"
)

// workerBin is the worker binary TestMain builds once for the package.
var workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "worker-itest-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdtemp:", err)
		os.Exit(1)
	}
	workerBin = filepath.Join(dir, "worker")
	args := []string{"build", "-o", workerBin}
	if raceEnabled {
		// The child runs with the race detector too when the tests do, so a
		// data race in the worker fails the test that provoked it.
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/worker: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ---------------------------------------------------------------------------
// Polling

// poll calls cond every `every` until it reports true or `within` passed;
// then the test fails with what cond last said.
func poll(t *testing.T, within, every time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached within %s; last state: %s", what, within, last)
		}
		time.Sleep(every)
	}
}

// ---------------------------------------------------------------------------
// AWS clients

func sqsClient(endpoint string) *sqs.Client {
	return sqs.NewFromConfig(testenv.AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

func cfClient(endpoint string) *cloudfront.Client {
	return cloudfront.NewFromConfig(testenv.AWSConfig(), func(o *cloudfront.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

// serialSQS returns the endpoint of a reverse proxy in front of an SQS
// emulator that lets only one request other than ReceiveMessage (the long
// polls) through at a time. For moto: moto 5.2.x rebuilds a queue's message
// list in DeleteMessage (moto/sqs/models.py, Queue.delete_message) without
// the queue's lock, so two DeleteMessageBatch calls served at once by its
// threaded server can lose a delete — moto answers Successful and the
// message comes back after its visibility timeout, to be invalidated and
// deleted again. Real SQS has no such race, and the worker runs several
// deleters at once, so its moto tests go through this proxy.
func serialSQS(t *testing.T, endpoint string) string {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AmazonSQS.ReceiveMessage" {
			mu.Lock()
			defer mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// createQueues creates name and name-dlq, the first redriving to the second
// after maxReceive receives, both with a default visibility of visibility.
func createQueues(t *testing.T, c *sqs.Client, name string, maxReceive int, visibility time.Duration) (queueURL, dlqURL string) {
	t.Helper()
	ctx := context.Background()
	vis := strconv.Itoa(int(visibility / time.Second))
	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq"),
		Attributes: map[string]string{"VisibilityTimeout": vis}})
	if err != nil {
		t.Fatalf("CreateQueue %s-dlq: %v", name, err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("GetQueueAttributes QueueArn: %v", err)
	}
	arn := attrs.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		t.Fatalf("DLQ %s has no QueueArn", aws.ToString(dlq.QueueUrl))
	}
	policy := fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, arn, maxReceive)
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": vis, "RedrivePolicy": policy}})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl)
}

// sendBodies sends every body with SendMessageBatch (10 at a time) and fails
// on any failed entry.
func sendBodies(t *testing.T, c *sqs.Client, queueURL string, bodies []string) {
	t.Helper()
	for i := 0; i < len(bodies); i += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for j := i; j < min(i+10, len(bodies)); j++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(bodies[j])})
		}
		out, err := c.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		if err != nil {
			t.Fatalf("SendMessageBatch: %v", err)
		}
		if len(out.Failed) > 0 {
			t.Fatalf("SendMessageBatch: %d failed entries, first %s: %s", len(out.Failed),
				aws.ToString(out.Failed[0].Code), aws.ToString(out.Failed[0].Message))
		}
	}
}

// queueCounts returns ApproximateNumberOfMessages and …NotVisible.
func queueCounts(t *testing.T, c *sqs.Client, queueURL string) (visible, notVisible int) {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes counts: %v", err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	notVisible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, notVisible
}

// waitDrained waits until the queue holds no message, visible or not.
func waitDrained(t *testing.T, c *sqs.Client, queueURL string, within time.Duration) {
	t.Helper()
	poll(t, within, 100*time.Millisecond, "queue drained", func() (bool, string) {
		v, nv := queueCounts(t, c, queueURL)
		return v+nv == 0, fmt.Sprintf("visible=%d notVisible=%d", v, nv)
	})
}

// dlqMessage is a dead-lettered message with its attributes.
type dlqMessage struct {
	ID, Body   string
	ReasonCode string
	Reason     string
	Attrs      map[string]string
	SeenAt     time.Time
}

// receiveAll receives from queueURL (long polls of 1 s) until want distinct
// messages arrived or within passed, and returns what arrived. It does not
// delete them; a message received once stays invisible for the queue's
// visibility timeout, which is longer than any test waits.
func receiveAll(t *testing.T, c *sqs.Client, queueURL string, want int, within time.Duration) []dlqMessage {
	t.Helper()
	deadline := time.Now().Add(within)
	seen := map[string]bool{}
	var got []dlqMessage
	for len(got) < want && time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatalf("ReceiveMessage %s: %v", queueURL, err)
		}
		now := time.Now()
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			d := dlqMessage{ID: id, Body: aws.ToString(m.Body), Attrs: map[string]string{}, SeenAt: now}
			for k, v := range m.MessageAttributes {
				d.Attrs[k] = aws.ToString(v.StringValue)
			}
			d.ReasonCode, d.Reason = d.Attrs["invalidator.reason_code"], d.Attrs["invalidator.reason"]
			got = append(got, d)
		}
	}
	return got
}

// ---------------------------------------------------------------------------
// The worker

// workerConfig is what the tests put in the worker's YAML file; empty
// fields are left out (the worker's default applies).
type workerConfig struct {
	QueueURL      string
	DLQURL        string
	Window        string
	Grace         string
	Visibility    string
	MaxBackoff    string
	Pollers       int
	Distributions []dist
	// DistExtra is raw YAML added to every distribution entry, e.g.
	// "collapse: never".
	DistExtra string
}

type dist struct {
	ID      string
	Aliases []string
}

func (c workerConfig) yaml() string {
	var b strings.Builder
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %q\n", k, v)
		}
	}
	kv("queue_url", c.QueueURL)
	kv("dead_letter_queue_url", c.DLQURL)
	kv("window", c.Window)
	kv("shutdown_grace", c.Grace)
	kv("visibility_timeout", c.Visibility)
	kv("retry_max_backoff", c.MaxBackoff)
	if c.Pollers > 0 {
		fmt.Fprintf(&b, "pollers: %d\n", c.Pollers)
	}
	b.WriteString("distributions:\n")
	for _, d := range c.Distributions {
		fmt.Fprintf(&b, "  - id: %q\n", d.ID)
		if len(d.Aliases) > 0 {
			q := make([]string, len(d.Aliases))
			for i, a := range d.Aliases {
				q[i] = strconv.Quote(a)
			}
			fmt.Fprintf(&b, "    aliases: [%s]\n", strings.Join(q, ", "))
		}
		for _, line := range strings.Split(strings.TrimSpace(c.DistExtra), "\n") {
			if line != "" {
				fmt.Fprintf(&b, "    %s\n", line)
			}
		}
	}
	return b.String()
}

// writeConfig writes text to a fresh file and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "worker.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// workerProc is a running worker binary.
type workerProc struct {
	*testenv.Process
	base    string // http://127.0.0.1:PORT of /healthz, /readyz, /metrics
	started time.Time
}

// startWorker writes cfg, runs `worker run --config FILE` with the AWS
// environment for the given endpoints, INVALIDATOR_HTTP_ADDR on a free port
// and env, and waits until /readyz answers 200 (it has received from SQS).
func startWorker(t *testing.T, cfg workerConfig, sqsEndpoint, cfEndpoint string, env ...string) *workerProc {
	t.Helper()
	path := writeConfig(t, cfg.yaml())
	port := testenv.FreePort(t)
	full := append(testenv.AWSEnv(sqsEndpoint, cfEndpoint),
		"AWS_SHARED_CREDENTIALS_FILE="+os.DevNull, "AWS_CONFIG_FILE="+os.DevNull,
		fmt.Sprintf("INVALIDATOR_HTTP_ADDR=127.0.0.1:%d", port))
	full = append(full, env...)
	w := &workerProc{base: fmt.Sprintf("http://127.0.0.1:%d", port), started: time.Now()}
	w.Process = testenv.StartClean(t, "worker", full, workerBin, "run", "--config", path)
	t.Cleanup(func() {
		if strings.Contains(w.Output(), "WARNING: DATA RACE") {
			t.Errorf("the worker reported a data race (see its output)")
		}
	})
	w.waitReady(t, 30*time.Second)
	return w
}

func (w *workerProc) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	poll(t, within, 50*time.Millisecond, "worker /readyz", func() (bool, string) {
		select {
		case <-w.Done():
			t.Fatalf("worker exited before it was ready (code %d):\n%s", w.Cmd.ProcessState.ExitCode(), w.Output())
		default:
		}
		resp, err := client.Get(w.base + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// metrics scrapes /metrics into series → value, the series written as in
// the exposition format: `name` or `name{label="v",...}`.
func (w *workerProc) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	m, err := w.scrape()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scrape is metrics without a test, for background goroutines.
func (w *workerProc) scrape() (map[string]float64, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(w.base + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("GET /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return out, nil
}

// metric is one series' value (0 when absent).
func (w *workerProc) metric(t *testing.T, series string) float64 {
	t.Helper()
	return w.metrics(t)[series]
}

// metricSum adds up every series of the metric name, whatever its labels.
func metricSum(m map[string]float64, name string) float64 {
	sum := 0.0
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

// waitMetric waits until series reaches at least want.
func (w *workerProc) waitMetric(t *testing.T, series string, want float64, within time.Duration) {
	t.Helper()
	poll(t, within, 100*time.Millisecond, series+" >= "+strconv.FormatFloat(want, 'f', -1, 64), func() (bool, string) {
		v := w.metric(t, series)
		return v >= want, strconv.FormatFloat(v, 'f', -1, 64)
	})
}

// stop sends SIGTERM and requires exit code 0 within d.
func (w *workerProc) stop(t *testing.T, d time.Duration) {
	t.Helper()
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if code := w.Wait(d); code != 0 {
		t.Fatalf("worker exit code %d after SIGTERM (want 0 within %s)", code, d)
	}
}

// ---------------------------------------------------------------------------
// CloudFront

// createMotoDistribution creates the smallest distribution moto accepts and
// returns its id.
func createMotoDistribution(t *testing.T, c *cloudfront.Client, ref string) string {
	t.Helper()
	out, err := c.CreateDistribution(context.Background(), &cloudfront.CreateDistributionInput{
		DistributionConfig: &cftypes.DistributionConfig{
			CallerReference: aws.String(ref),
			Comment:         aws.String(""),
			Enabled:         aws.Bool(true),
			Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
				Id:         aws.String("origin"),
				DomainName: aws.String("origin.example.com"),
				CustomOriginConfig: &cftypes.CustomOriginConfig{
					HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(443),
					OriginProtocolPolicy: cftypes.OriginProtocolPolicyHttpsOnly,
				},
			}}},
			DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
				TargetOriginId:       aws.String("origin"),
				ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyAllowAll,
			},
		},
	})
	if err != nil {
		t.Fatalf("moto CreateDistribution: %v", err)
	}
	return aws.ToString(out.Distribution.Id)
}

// invalidation is one invalidation as CloudFront (or moto) shows it.
type invalidation struct {
	ID, Status string
	Paths      []string
}

// listInvalidations returns every invalidation of dist with its paths,
// through ListInvalidations (all pages) and GetInvalidation.
func listInvalidations(t *testing.T, c *cloudfront.Client, distID string) []invalidation {
	t.Helper()
	ctx := context.Background()
	var out []invalidation
	p := cloudfront.NewListInvalidationsPaginator(c, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(distID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListInvalidations %s: %v", distID, err)
		}
		if page.InvalidationList == nil {
			break
		}
		for _, s := range page.InvalidationList.Items {
			g, err := c.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(distID), Id: s.Id})
			if err != nil {
				t.Fatalf("GetInvalidation %s %s: %v", distID, aws.ToString(s.Id), err)
			}
			inv := invalidation{ID: aws.ToString(g.Invalidation.Id), Status: aws.ToString(g.Invalidation.Status)}
			if b := g.Invalidation.InvalidationBatch; b != nil && b.Paths != nil {
				inv.Paths = b.Paths.Items
			}
			out = append(out, inv)
		}
	}
	return out
}

// auditByDist groups the simulator's accepted invalidations by distribution.
func auditByDist(entries []cfsim.AuditEntry) map[string][]cfsim.AuditEntry {
	out := map[string][]cfsim.AuditEntry{}
	for _, e := range entries {
		out[e.Distribution] = append(out[e.Distribution], e)
	}
	return out
}

// covered reports whether path is invalidated by one of submitted: equal to
// it, or under the prefix of a wildcard ("/img/*" covers "/img/a.png").
func covered(path string, submitted []string) bool {
	for _, s := range submitted {
		if s == path {
			return true
		}
		if pre, ok := strings.CutSuffix(s, "*"); ok && strings.HasPrefix(path, pre) {
			return true
		}
	}
	return false
}

// uncovered returns the paths of want not covered by submitted.
func uncovered(want, submitted []string) []string {
	var out []string
	for _, p := range want {
		if !covered(p, submitted) {
			out = append(out, p)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Messages

// msg is a message a test sends and the normalized paths it must get
// invalidated for its distribution.
type msg struct {
	Dist string   // distribution id the paths belong to
	Body string   // what is sent
	Want []string // normalized paths that must be covered
}

// v1 builds a v1 body naming the distribution by id ("distribution_id") or,
// with byName, by "distribution" (an alias).
func v1(byName bool, name string, paths ...string) string {
	m := map[string]any{"paths": paths}
	if byName {
		m["distribution"] = name
	} else {
		m["distribution_id"] = name
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func bodiesOf(ms []msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Body
	}
	return out
}

// wantByDist is the union of normalized paths per distribution.
func wantByDist(ms []msg) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		for _, p := range m.Want {
			if !slices.Contains(out[m.Dist], p) {
				out[m.Dist] = append(out[m.Dist], p)
			}
		}
	}
	return out
}

// burst is ~200 messages for two distributions a (alias "www") and b (alias
// "shop"): plain paths by id and by alias, duplicates, wildcards that cover
// other paths, multi-path messages, and paths that need normalizing
// (spaces, non-ASCII, full URLs, a lone "%", surrounding blanks).
func burst(a, b string) []msg {
	var ms []msg
	add := func(d string, byName bool, name string, want []string, paths ...string) {
		ms = append(ms, msg{Dist: d, Body: v1(byName, name, paths...), Want: want})
	}
	plain := func(d string, byName bool, name string, paths ...string) { add(d, byName, name, paths, paths...) }
	for i := range 120 {
		d, alias, dir := a, "www", "posts"
		if i%2 == 1 {
			d, alias, dir = b, "shop", "products"
		}
		name := d
		if i%3 == 0 {
			name = alias
		}
		plain(d, i%3 == 0, name, fmt.Sprintf("/%s/%d.html", dir, i))
	}
	for i := range 20 { // duplicates of the first 20, once by id and once by alias
		d, alias, dir := a, "www", "posts"
		if i%2 == 1 {
			d, alias, dir = b, "shop", "products"
		}
		p := fmt.Sprintf("/%s/%d.html", dir, i)
		if i%4 < 2 {
			plain(d, false, d, p)
		} else {
			plain(d, true, alias, p)
		}
	}
	// A wildcard and 30 messages it covers, sent before and after it.
	for i := range 15 {
		plain(a, false, a, fmt.Sprintf("/img/p-%d.png", i), fmt.Sprintf("/img/sub/q-%d.png", i))
	}
	plain(a, true, "www", "/img/*")
	for i := 15; i < 30; i++ {
		plain(a, false, a, fmt.Sprintf("/img/p-%d.png", i))
	}
	plain(b, false, b, "/cat/*")
	for i := range 10 {
		plain(b, true, "shop", fmt.Sprintf("/cat/%d/index.json", i))
	}
	// Paths that need normalizing.
	add(a, false, a, []string{"/a%20b.html"}, "/a b.html")
	add(a, true, "www", []string{"/caf%C3%A9/men%C3%BC.html"}, "/café/menü.html")
	add(a, false, a, []string{"/x?y=1"}, "https://www.example.com/x?y=1")
	add(a, false, a, []string{"/already%20encoded.html"}, "/already%20encoded.html")
	add(a, false, a, []string{"/trimmed.html"}, "  /trimmed.html\t")
	add(a, false, a, []string{"/"}, "HTTPS://www.example.com")
	add(b, false, b, []string{"/search?q=a%20b"}, "https://shop.example.com/search?q=a b#top")
	add(b, true, "shop", []string{"/%E6%97%A5%E6%9C%AC/%E3%83%9A%E3%83%BC%E3%82%B8.html"}, "/日本/ページ.html")
	add(b, false, b, []string{"/50%25off.html"}, "/50%off.html")
	add(b, false, b, []string{"/a%7Bb%7D.html", "/quote%22d.html"}, "/a{b}.html", `/quote"d.html`)
	// Multi-path messages, overlapping each other and the plain ones.
	for i := range 6 {
		plain(a, false, a, fmt.Sprintf("/multi/%d.html", i), fmt.Sprintf("/multi/%d.html", i+1), "/posts/0.html")
	}
	for i := range 4 {
		plain(b, true, "shop", fmt.Sprintf("/bundle/%d.css", i), fmt.Sprintf("/bundle/%d.js", i))
	}
	return ms
}

// coverageTimeline says, for a set of messages and the accepted
// invalidations, at what time each message had all its paths covered.
type coverageTimeline []time.Time

// coveredAt returns, per message, the earliest time at which accepted
// invalidations (in order of acceptance) together cover all of its paths;
// the zero time means never.
func coveredAt(ms []msg, audit []cfsim.AuditEntry) coverageTimeline {
	entries := slices.Clone(audit)
	slices.SortFunc(entries, func(x, y cfsim.AuditEntry) int { return x.Time.Compare(y.Time) })
	out := make(coverageTimeline, len(ms))
	for i, m := range ms {
		var union []string
		for _, e := range entries {
			if e.Distribution != m.Dist {
				continue
			}
			union = append(union, e.Paths...)
			if len(uncovered(m.Want, union)) == 0 {
				out[i] = e.Time
				break
			}
		}
	}
	return out
}

// countBy returns how many messages were fully covered at or before t.
func (c coverageTimeline) countBy(t time.Time) int {
	n := 0
	for _, at := range c {
		if !at.IsZero() && !at.After(t) {
			n++
		}
	}
	return n
}

// recorder keeps samples of a value over time, from a background poller.
type recorder struct {
	mu      sync.Mutex
	samples []sample
}

type sample struct {
	at    time.Time // when the value was known to be reached (after the read)
	value float64
}

func (r *recorder) add(at time.Time, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, sample{at, v})
}

func (r *recorder) all() []sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}
