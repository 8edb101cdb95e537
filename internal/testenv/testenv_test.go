package testenv

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestEmulatorsStart proves both SQS emulators come up and answer the real SDK.
func TestEmulatorsStart(t *testing.T) {
	for _, start := range []func(testing.TB) *Process{Moto, Fauxqs} {
		p := start(t)
		c := sqs.NewFromConfig(AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = aws.String(p.Endpoint) })
		out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("probe")})
		if err != nil {
			t.Fatalf("%s CreateQueue: %v", p.Name, err)
		}
		if aws.ToString(out.QueueUrl) == "" {
			t.Fatalf("%s: empty queue url", p.Name)
		}
		t.Logf("%s queue url %s", p.Name, aws.ToString(out.QueueUrl))
	}
}
