package e2e

// Helpers for producers the tests do not control: moto's S3 bucket
// notifications and the aws cli.

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/acme/cf-invalidator/internal/testenv"
)

// S3Upload writes files (keys) with some content under a fresh directory
// and uploads them all with one `aws s3 cp --recursive` (one PutObject per
// file).
func S3Upload(t testing.TB, endpoint, bucket string, keys ...string) {
	t.Helper()
	dir := t.TempDir()
	for _, k := range keys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("content of "+k+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testenv.AWSCLI(t, endpoint, "s3", "cp", "--recursive", "--only-show-errors", dir, "s3://"+bucket+"/")
}

// S3NotifyQueue configures bucket to notify queueArn of every object
// creation and removal; moto sends an s3:TestEvent to the queue at once.
func S3NotifyQueue(t testing.TB, endpoint, bucket, queueArn string) {
	t.Helper()
	cfg := fmt.Sprintf(`{"QueueConfigurations":[{"QueueArn":%q,"Events":["s3:ObjectCreated:*","s3:ObjectRemoved:*"]}]}`, queueArn)
	CLI(t, endpoint, "s3api", "put-bucket-notification-configuration", "--bucket", bucket, "--notification-configuration", cfg)
}

// S3Records returns "eventName key" for each record of an S3 event body,
// the key as sent (form-encoded): "ObjectCreated:Put a+b.html". A body
// without records (an s3:TestEvent) has none.
func S3Records(event map[string]any) []string {
	var out []string
	recs, _ := event["Records"].([]any)
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%v %v", Dig(r, "eventName"), Dig(r, "s3", "object", "key")))
	}
	return out
}

// S3Keys is [S3Records] of every event, sorted.
func S3Keys(events []map[string]any) []string {
	var out []string
	for _, e := range events {
		out = append(out, S3Records(e)...)
	}
	slices.Sort(out)
	return out
}

// S3Object is the bucket and the form-decoded key of an S3 event's first
// record ("" when it has none, or when the key is not form-encoded).
func S3Object(event map[string]any) (bucket, key string) {
	bucket, _ = Dig(event, "Records", 0, "s3", "bucket", "name").(string)
	raw, _ := Dig(event, "Records", 0, "s3", "object", "key").(string)
	key, err := url.QueryUnescape(raw)
	if err != nil {
		return bucket, ""
	}
	return bucket, key
}
