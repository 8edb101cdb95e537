package cfsim_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/acme/cf-invalidator/internal/cfsim"
)

// TestDistributionErrors: unknown ids are NoSuchDistribution (404), denied
// ids AccessDenied (403), for all three operations.
func TestDistributionErrors(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1", "EDENIED"}, Denied: []string{"EDENIED"}})
	id := mustCreate(t, c, "E1", "r", "/a").Id
	ops := map[string]func(dist string) error{
		"create": func(d string) error { _, err := create(c, d, "r", "/a"); return err },
		"get":    func(d string) error { _, err := get(c, d, aws.ToString(id)); return err },
		"list":   func(d string) error { _, err := list(c, d, "", 0); return err },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			wantTyped[*types.NoSuchDistribution](t, op("ENOSUCH"), 404)
			wantTyped[*types.AccessDenied](t, op("EDENIED"), 403)
		})
	}
}

func TestNoSuchInvalidation(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1", "E2"}})
	id := aws.ToString(mustCreate(t, c, "E1", "r", "/a").Id)
	_, err := get(c, "E1", "INOSUCHINVALID")
	wantTyped[*types.NoSuchInvalidation](t, err, 404)
	_, err = get(c, "E2", id) // ids belong to their distribution
	wantTyped[*types.NoSuchInvalidation](t, err, 404)
}

// TestInvalidPaths: every rule on a path item is InvalidArgument (400),
// and nothing is created or billed.
func TestInvalidPaths(t *testing.T) {
	s, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	for name, p := range map[string]string{
		"no leading slash":  "index.html",
		"inner wildcard":    "/a*b",
		"unencoded space":   "/a b",
		"non-ASCII":         "/café",
		"control character": "/a\tb",
		"over 4000 chars":   "/" + strings.Repeat("x", 4000),
		"empty":             "",
		"empty tag":         "#",
		"tag with comma":    "#a,b",
		"tag with wildcard": "#a*",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := create(c, "E1", "r-"+name, "/ok", p)
			wantTyped[*types.InvalidArgument](t, err, 400)
		})
	}
	if st := s.Stats(); st.Invalidations != 0 || st.PathsBilled != 0 {
		t.Fatalf("invalid batches were booked: %+v", st)
	}
}

// TestValidPathEdges: what CloudFront accepts at the edges of the rules.
func TestValidPathEdges(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	mustCreate(t, c, "E1", "edges",
		"/"+strings.Repeat("x", 3999), "/*", "/a%20b", "/caf%C3%A9", "/q?x=1&y=2", "/Case/Sensitive", "#product:tv")
}

// TestQuantityErrors: Quantity must match the items (InconsistentQuantities)
// and a batch needs at least one path (InvalidArgument).
func TestQuantityErrors(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	in := createInput("E1", "r", "/a", "/b")
	in.InvalidationBatch.Paths.Quantity = aws.Int32(3)
	_, err := c.CreateInvalidation(context.Background(), in)
	wantTyped[*types.InconsistentQuantities](t, err, 400)

	_, err = create(c, "E1", "r") // Quantity 0, no Items
	wantTyped[*types.InvalidArgument](t, err, 400)
}

// TestRawErrorBody checks the error document byte for byte where the SDK
// is lenient: the ErrorResponse envelope with its namespace, Type, and the
// request id repeated in the x-amzn-RequestId header. Malformed XML and a
// missing body can only be sent raw.
func TestRawErrorBody(t *testing.T) {
	hs := httptest.NewServer(cfsim.New(cfsim.Options{Distributions: []string{"E1"}, ErrorRate: 0}))
	defer hs.Close()
	url := hs.URL + "/2020-05-31/distribution/E1/invalidation"
	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{"<InvalidationBatch><Paths>", "InvalidArgument", 400},
		{"<Other/>", "InvalidArgument", 400},
		{"", "MissingBody", 400},
	} {
		resp, err := http.Post(url, "application/xml", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		doc := readErrorDoc(t, resp)
		if resp.StatusCode != tc.status || doc.Code != tc.code || doc.Type != "Sender" {
			t.Fatalf("body %q: HTTP %d %+v, want %d %s Sender", tc.body, resp.StatusCode, doc, tc.status, tc.code)
		}
	}
}

type errorDoc struct {
	XMLName   xml.Name
	Type      string `xml:"Error>Type"`
	Code      string `xml:"Error>Code"`
	Message   string `xml:"Error>Message"`
	RequestID string `xml:"RequestId"`
}

// readErrorDoc decodes an ErrorResponse and checks its envelope.
func readErrorDoc(t *testing.T, resp *http.Response) errorDoc {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var doc errorDoc
	if err := xml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("error body %q: %v", raw, err)
	}
	if doc.XMLName.Local != "ErrorResponse" || doc.XMLName.Space != cfsim.Namespace {
		t.Fatalf("root %v, want ErrorResponse in %s", doc.XMLName, cfsim.Namespace)
	}
	if id := resp.Header.Get("x-amzn-RequestId"); id == "" || id != doc.RequestID || doc.Message == "" {
		t.Fatalf("header request id %q, body %+v", id, doc)
	}
	return doc
}

// TestRequestIDReachesSDK: the SDK reports the request id of a failure.
func TestRequestIDReachesSDK(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{})
	_, err := get(c, "ENOSUCH", "I1")
	re, ok := errors.AsType[*awshttp.ResponseError](err)
	if !ok || re.ServiceRequestID() == "" {
		t.Fatalf("no request id in %v", err)
	}
}

// TestUnsupportedOperation: anything but the three operations is a 404
// with an ErrorResponse.
func TestUnsupportedOperation(t *testing.T) {
	_, c, _ := sim(t, cfsim.Options{Distributions: []string{"E1"}})
	_, err := c.GetDistribution(context.Background(), &cloudfront.GetDistributionInput{Id: aws.String("E1")})
	wantCode(t, err, "UnsupportedOperation", 404)
}
