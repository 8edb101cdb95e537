package inspect

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// URLAPI is the part of the SQS client DeadLetterURL uses.
type URLAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

var _ URLAPI = (*sqs.Client)(nil)

// DeadLetterURL returns the URL of the dead-letter queue r's RedrivePolicy
// names, found as the worker finds it: GetQueueUrl by the name and account
// of deadLetterTargetArn (arn:PARTITION:sqs:REGION:ACCOUNT:NAME). It
// returns "" and no error when r has no RedrivePolicy.
func DeadLetterURL(ctx context.Context, api URLAPI, r Report) (string, error) {
	if r.Redrive == nil {
		return "", nil
	}
	arn := r.Redrive.DeadLetterTargetArn
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[4] == "" || parts[5] == "" {
		return "", fmt.Errorf("inspect: %s: RedrivePolicy deadLetterTargetArn %q is not an SQS queue ARN", r.QueueURL, arn)
	}
	out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return "", fmt.Errorf("inspect: sqs GetQueueUrl %s (the dead-letter queue of %s): %w", parts[5], r.QueueURL, err)
	}
	return aws.ToString(out.QueueUrl), nil
}
