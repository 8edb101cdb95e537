package preflight

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// queueID names a queue independently of how it was written: a queue URL
// (https://sqs.us-east-1.amazonaws.com/123456789012/q, the legacy
// https://queue.amazonaws.com/123456789012/q, an emulator's
// http://127.0.0.1:5000/123456789012/q) and an ARN
// (arn:aws:sqs:us-east-1:123456789012:q) of the same queue compare equal.
type queueID struct {
	Region, Account, Name string
}

func (q queueID) String() string { return q.Account + "/" + q.Name + " in " + q.Region }

// ARN is the queue's ARN in partition aws (only for messages and remedies;
// comparisons use the fields).
func (q queueID) ARN() string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", q.Region, q.Account, q.Name)
}

// SQS endpoint host names that carry the region: sqs.REGION.amazonaws.com
// (and .com.cn), VPC endpoints vpce-….sqs.REGION.vpce.amazonaws.com, and the
// legacy REGION.queue.amazonaws.com; queue.amazonaws.com is us-east-1.
var (
	sqsHostRegion    = regexp.MustCompile(`(?:^|\.)sqs\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$`)
	legacyHostRegion = regexp.MustCompile(`^([a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?$`)
)

// urlRegion is the region an AWS queue URL's host names, or "" for a host
// that names none (an emulator, a custom endpoint).
func urlRegion(host string) string {
	host = strings.ToLower(host)
	if m := sqsHostRegion.FindStringSubmatch(host); m != nil {
		return m[1]
	}
	if m := legacyHostRegion.FindStringSubmatch(host); m != nil {
		return m[1]
	}
	if host == "queue.amazonaws.com" {
		return "us-east-1"
	}
	return ""
}

// parseQueueURL reads SCHEME://HOST/ACCOUNT/NAME. A host that names no
// region gets defaultRegion: the SDK sends every call to the endpoint of
// its own region, whatever the URL's host says.
func parseQueueURL(raw, defaultRegion string) (queueID, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return queueID{}, fmt.Errorf("not a URL: %w", err)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return queueID{}, fmt.Errorf("%q is not a queue URL: want SCHEME://HOST/ACCOUNT_ID/QUEUE_NAME", raw)
	}
	region := urlRegion(u.Hostname())
	if region == "" {
		region = defaultRegion
	}
	return queueID{Region: region, Account: parts[0], Name: parts[1]}, nil
}

// parseQueueARN reads arn:PARTITION:sqs:REGION:ACCOUNT:NAME.
func parseQueueARN(arn string) (queueID, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[3] == "" || parts[4] == "" || parts[5] == "" {
		return queueID{}, fmt.Errorf("%q is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT_ID:NAME)", arn)
	}
	return queueID{Region: parts[3], Account: parts[4], Name: parts[5]}, nil
}

// human writes a duration the way queue attributes are thought of:
// 4d, 1h, 90s, 1h30m.
func human(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
