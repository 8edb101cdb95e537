package cfsim

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"net/http"
	"time"
)

// timeFormat is CloudFront's CreateTime: ISO 8601 in UTC with milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

// requestIDHeader is spelled as CloudFront spells it; it is set on the
// header map directly so Go does not canonicalize it.
const requestIDHeader = "x-amzn-RequestId"

type invalidationXML struct {
	XMLName    xml.Name `xml:"Invalidation"`
	Xmlns      string   `xml:"xmlns,attr"`
	ID         string   `xml:"Id"`
	Status     string   `xml:"Status"`
	CreateTime string   `xml:"CreateTime"`
	Batch      struct {
		Paths struct {
			Quantity int      `xml:"Quantity"`
			Items    []string `xml:"Items>Path"`
		} `xml:"Paths"`
		CallerReference string `xml:"CallerReference"`
	} `xml:"InvalidationBatch"`
}

// listXML follows the model's member order: Marker, NextMarker (only when
// truncated), MaxItems, IsTruncated, Quantity, Items (only when not empty).
type listXML struct {
	XMLName     xml.Name     `xml:"InvalidationList"`
	Xmlns       string       `xml:"xmlns,attr"`
	Marker      string       `xml:"Marker"`
	NextMarker  string       `xml:"NextMarker,omitempty"`
	MaxItems    int          `xml:"MaxItems"`
	IsTruncated bool         `xml:"IsTruncated"`
	Quantity    int          `xml:"Quantity"`
	Items       []summaryXML `xml:"Items>InvalidationSummary"`
}

type summaryXML struct {
	ID         string `xml:"Id"`
	CreateTime string `xml:"CreateTime"`
	Status     string `xml:"Status"`
}

type errorResponseXML struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func invalidationDoc(inv *invalidation, now time.Time) *invalidationXML {
	doc := &invalidationXML{
		Xmlns:      Namespace,
		ID:         inv.id,
		Status:     inv.status(now),
		CreateTime: inv.created.UTC().Format(timeFormat),
	}
	doc.Batch.Paths.Quantity = len(inv.paths)
	doc.Batch.Paths.Items = inv.paths
	doc.Batch.CallerReference = inv.ref
	return doc
}

func listDoc(page []*invalidation, now time.Time, marker, next string, maxItems int) *listXML {
	doc := &listXML{
		Xmlns:       Namespace,
		Marker:      marker,
		NextMarker:  next,
		MaxItems:    maxItems,
		IsTruncated: next != "",
		Quantity:    len(page),
	}
	for _, inv := range page {
		doc.Items = append(doc.Items, summaryXML{
			ID:         inv.id,
			CreateTime: inv.created.UTC().Format(timeFormat),
			Status:     inv.status(now),
		})
	}
	return doc
}

// writeReply writes rep as CloudFront would: text/xml, the request id
// header, and for errors the ErrorResponse document carrying the same id.
func writeReply(w http.ResponseWriter, rep reply, reqID string) {
	h := w.Header()
	h[requestIDHeader] = []string{reqID}
	h.Set("Content-Type", "text/xml")
	body, status := rep.body, rep.status
	if rep.err != nil {
		body, status = rep.err.document(reqID), rep.err.status
	}
	if rep.location != "" {
		h.Set("Location", rep.location)
	}
	out, err := xml.Marshal(body)
	if err != nil { // only our own fixed types are marshalled
		panic(fmt.Sprintf("cfsim: marshal %T: %v", body, err))
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

// newRequestID returns a UUID-shaped id like CloudFront's request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
