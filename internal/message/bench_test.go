package message

import "testing"

// Decode costs per message body. The first is what cmd/bench sends (and
// what a CMS publish hook sends): a v1 body with a post, its index page
// and a listing page.
var benchBodies = []struct{ name, body string }{
	{"v1", `{"distribution_id":"EDFDVBD6EXAMPLE","paths":["/posts/1234/","/posts/1234/index.html","/page/7/"]}`},
	{"v1-tags-alias", `{"version":1,"distribution":"www","paths":["/a/b.html","/a/"],"tags":["product-42","home"]}`},
	{"s3", s3Event(s3Rec("ObjectCreated:Put", "site-assets", "blog/my+post%C3%A9.html"))},
	{"sns-v1", `{"Type":"Notification","MessageId":"x","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"{\"distribution\":\"www\",\"paths\":[\"/a\",\"/b/\"]}","Timestamp":"2024-01-01T00:00:00.000Z"}`},
}

func BenchmarkDecode(b *testing.B) {
	d := newDecoder(b, nil)
	for _, bb := range benchBodies {
		b.Run(bb.name, func(b *testing.B) {
			body := []byte(bb.body)
			if _, err := d.Decode(body); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := d.Decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
