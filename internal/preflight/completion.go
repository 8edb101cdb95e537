package preflight

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// CheckCompletion checks the completion announcement targets of p, if any:
// that they exist (GetTopicAttributes, GetQueueAttributes) and that they
// will be used at all (they need track_completion). The worker itself needs
// only sns:Publish and sqs:SendMessage there, so a denied read is reported
// as not checked rather than failed; the publish and send themselves are
// never tried.
func CheckCompletion(ctx context.Context, snsAPI SNSAPI, sqsAPI SQSAPI, region string, p Plan) []Result {
	if p.CompletionTopicARN == "" && p.CompletionQueueURL == "" {
		return nil
	}
	if !p.TrackCompletion {
		return []Result{{Name: "completion", Status: Fail,
			Detail: "completion_topic_arn or completion_queue_url is set, but track_completion is false: nothing would be announced",
			Remedy: "set track_completion: true (INVALIDATOR_TRACK_COMPLETION=true), or remove the completion targets"}}
	}
	var rs []Result
	if arn := p.CompletionTopicARN; arn != "" {
		rs = append(rs, checkTopic(ctx, snsAPI, arn), Result{Name: "completion.publish", Target: arn, Status: Skip,
			Detail: "not checked: sns:Publish (testing it would announce to every subscriber)",
			Remedy: "grant sns:Publish on " + arn + " (deploy/iam-policy.json, AnnounceCompletionsOnlyIfConfigured)"})
	}
	if url := p.CompletionQueueURL; url != "" {
		rs = append(rs, checkCompletionQueue(ctx, sqsAPI, region, url), Result{Name: "completion.send", Target: url, Status: Skip,
			Detail: "not checked: sqs:SendMessage (testing it would put a message on the queue)",
			Remedy: "grant sqs:SendMessage on it (deploy/iam-policy.json, AnnounceCompletionsToQueueOnlyIfConfigured)"})
	}
	return rs
}

func checkTopic(ctx context.Context, api SNSAPI, arn string) Result {
	if api == nil {
		return Result{Name: "completion.topic", Target: arn, Status: Skip, Detail: "not checked: no SNS client"}
	}
	_, err := api.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	switch {
	case err == nil:
		return Result{Name: "completion.topic", Target: arn, Status: Pass, Detail: "exists"}
	case classify(err) == errDenied:
		return Result{Name: "completion.topic", Target: arn, Status: Skip,
			Detail: "not checked: sns:GetTopicAttributes is not allowed (the worker needs only sns:Publish)",
			Remedy: "grant sns:GetTopicAttributes on " + arn + " to let the check see the topic"}
	}
	return failure("completion.topic", arn, "sns GetTopicAttributes", err, map[errKind]string{
		errNotFound: "no such topic: create it, or fix completion_topic_arn (INVALIDATOR_COMPLETION_TOPIC_ARN)",
	})
}

func checkCompletionQueue(ctx context.Context, api SQSAPI, region, url string) Result {
	id, err := parseQueueURL(url, region)
	if err != nil {
		return Result{Name: "completion.queue", Target: url, Status: Fail, Detail: err.Error(), Remedy: "fix completion_queue_url"}
	}
	if id.Region != region {
		return Result{Name: "completion.queue", Target: url, Status: Fail,
			Detail: fmt.Sprintf("a queue in %s, but the SDK's region is %s", id.Region, region),
			Remedy: "use a completion queue in " + region + ", or fix completion_queue_url"}
	}
	_, err = api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	switch {
	case err == nil:
		return Result{Name: "completion.queue", Target: url, Status: Pass, Detail: "exists"}
	case classify(err) == errDenied:
		return Result{Name: "completion.queue", Target: url, Status: Skip,
			Detail: "not checked: sqs:GetQueueAttributes is not allowed on it (the worker needs only sqs:SendMessage)",
			Remedy: "grant sqs:GetQueueAttributes on " + id.ARN() + " to let the check see the queue"}
	}
	return failure("completion.queue", url, "sqs GetQueueAttributes", err, map[errKind]string{
		errNotFound: "no such queue: create it, or fix completion_queue_url (INVALIDATOR_COMPLETION_QUEUE_URL)",
	})
}
