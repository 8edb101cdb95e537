package consumer

import (
	"context"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/acme/cf-invalidator/internal/metrics"
)

// invalidator_message_age_at_delete_seconds: observed once per message
// whose delete SQS confirmed, from its SentTimestamp, under the reason that
// led to the delete; a failed delete entry is observed only when its retry
// succeeds, and a message without SentTimestamp is not observed at all.
func TestMessageAgeAtDelete(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSQS{
			redrive:  `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:inv-dlq","maxReceiveCount":"5"}`,
			failOnce: map[string]bool{"rh-settled": true},
		}
		sent := strconv.FormatInt(time.Now().Add(-3*time.Second).UnixMilli(), 10)
		for _, id := range []string{"settled", "poison", "untimed"} {
			m := types.Message{MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String("{}")}
			if id != "untimed" {
				m.Attributes = map[string]string{string(types.MessageSystemAttributeNameSentTimestamp): sent}
			}
			f.queue = append(f.queue, m)
		}
		col := &collect{}
		c, cr, cb := start(t, f, Options{}, col.handle)
		time.Sleep(time.Second)
		synctest.Wait()
		if col.count() != 3 {
			t.Fatalf("received %d, want 3", col.count())
		}
		time.Sleep(time.Second) // now 5 s after SentTimestamp
		byID := map[string]*Message{}
		for _, m := range col.msgs {
			byID[m.ID] = m
		}
		if err := c.DeadLetter(context.Background(), byID["poison"], Rejection{Code: "malformed_body", Reason: "x"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // deleted at once, 5 s after it was sent
		c.Delete("settled")
		c.Delete("untimed")
		time.Sleep(10 * time.Second) // the settled message's failed entry is retried after its backoff
		synctest.Wait()
		if _, _, deleted, _ := f.snapshot(); len(deleted) != 3 {
			t.Fatalf("deleted %v, want all 3", deleted)
		}
		settled, sum := testHistogram(c.m.MessageAgeAtDelete.WithLabelValues(metrics.ReasonSettled))
		if settled != 1 || sum < 5 || sum > 6 {
			t.Errorf("settled: %d observations, sum %.3f s; want 1 (the untimed one is not observed), 5–6 s old (retried after a 1 s backoff)", settled, sum)
		}
		dl, sum := testHistogram(c.m.MessageAgeAtDelete.WithLabelValues(metrics.ReasonDeadLettered))
		if dl != 1 || sum != 5 {
			t.Errorf("dead_lettered: %d observations, sum %.3f s; want 1 of 5 s", dl, sum)
		}
		stop(c, cr, cb)
	})
}
