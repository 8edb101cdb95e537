package consumer

import (
	"strings"
	"testing"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// newEntry must not keep any string of the SDK's response: the SDK decodes
// them into shared blocks (smithy-go's StringArena), and one retained
// string keeps its whole block alive. Here every input string is a slice of
// one "arena"; nothing of the entry may point into it.
func TestNewEntryCopiesOutOfTheResponse(t *testing.T) {
	arena := strings.Repeat("x", 64) + "m-1" + "rh-1" + `{"paths":["/a"]}` + "String" + "cms" + "k" + "1" + "1700000000123"
	at := func(s string) string {
		i := strings.Index(arena, s)
		if i < 0 {
			t.Fatalf("%q not in the arena", s)
		}
		return arena[i : i+len(s)]
	}
	m := types.Message{
		MessageId: aws.String(at("m-1")), ReceiptHandle: aws.String(at("rh-1")), Body: aws.String(at(`{"paths":["/a"]}`)),
		Attributes: map[string]string{
			string(types.MessageSystemAttributeNameApproximateReceiveCount): at("1"),
			string(types.MessageSystemAttributeNameSentTimestamp):           at("1700000000123"),
		},
		MessageAttributes: map[string]types.MessageAttributeValue{
			at("k"): {DataType: aws.String(at("String")), StringValue: aws.String(at("cms"))},
		},
	}
	e := newEntry(m)
	if e.msg.ID != "m-1" || e.receipt != "rh-1" || e.msg.Body != `{"paths":["/a"]}` || e.msg.ReceiveCount != 1 ||
		e.msg.SentAt().UnixMilli() != 1700000000123 {
		t.Fatalf("entry %+v, receipt %q", e.msg, e.receipt)
	}
	a := aws.ToString(e.msg.Attributes["k"].StringValue)
	if a != "cms" || aws.ToString(e.msg.Attributes["k"].DataType) != "String" {
		t.Fatalf("attributes %+v", e.msg.Attributes)
	}
	lo := uintptr(unsafe.Pointer(unsafe.StringData(arena)))
	hi := lo + uintptr(len(arena))
	for name, s := range map[string]string{"id": e.msg.ID, "receipt": e.receipt, "body": e.msg.Body, "attribute": a,
		"attribute type": aws.ToString(e.msg.Attributes["k"].DataType)} {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		if p >= lo && p < hi {
			t.Errorf("%s %q points into the response's memory", name, s)
		}
	}
	for k := range e.msg.Attributes {
		if p := uintptr(unsafe.Pointer(unsafe.StringData(k))); p >= lo && p < hi {
			t.Errorf("attribute name %q points into the response's memory", k)
		}
	}
}

// TestEntryStaysSmall: a held message's entry is 96 bytes, a size class of
// Go's allocator (112 is the next): the memory bench's per-message figure
// counts on it.
func TestEntryStaysSmall(t *testing.T) {
	if got := unsafe.Sizeof(entry{}); got > 96 {
		t.Fatalf("entry is %d bytes, want at most 96", got)
	}
}
