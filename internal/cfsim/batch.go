package cfsim

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// Path rules from the CloudFront Developer Guide, "What you need to know
// when invalidating files": a path starts with '/'; "The maximum length of a
// path is 4,000 characters"; "You can't use a wildcard within the path; only
// at the end of the path"; non-ASCII and unsafe characters (RFC 1738) must
// be URL-encoded. Tag items ("What you need to know when invalidating
// tags") start with '#', hold "only ASCII visible characters (33–126),
// excluding commas", at most 256 characters, and no wildcard.
const (
	MaxPathLen = 4000
	MaxTagLen  = 256
)

// batch is a parsed, valid InvalidationBatch.
type batch struct {
	ref       string
	paths     []string
	files     int // paths without a trailing '*'; cache tags count here
	wildcards int // paths ending in '*'; each is one path for limits and billing
}

// batchXML is the request body. XMLName without a namespace matches the
// root whatever namespace it declares (the SDK and the cli send Namespace).
type batchXML struct {
	XMLName xml.Name `xml:"InvalidationBatch"`
	Paths   *struct {
		Quantity *int `xml:"Quantity"`
		Items    *struct {
			Path []string `xml:"Path"`
		} `xml:"Items"`
	} `xml:"Paths"`
	CallerReference *string `xml:"CallerReference"`
}

// parseBatch decodes and validates a CreateInvalidation body.
func parseBatch(body []byte) (batch, *apiError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return batch{}, errMissingBody()
	}
	var doc batchXML
	if err := xml.Unmarshal(body, &doc); err != nil {
		return batch{}, errInvalidArgument("The XML you provided was not well-formed or did not validate: " + err.Error())
	}
	if doc.CallerReference == nil || *doc.CallerReference == "" {
		return batch{}, errInvalidArgument("CallerReference is required.")
	}
	if doc.Paths == nil || doc.Paths.Quantity == nil {
		return batch{}, errInvalidArgument("Paths.Quantity is required.")
	}
	var items []string
	if doc.Paths.Items != nil {
		items = doc.Paths.Items.Path
	}
	return newBatch(*doc.CallerReference, *doc.Paths.Quantity, items)
}

func newBatch(ref string, quantity int, items []string) (batch, *apiError) {
	if quantity != len(items) {
		return batch{}, errInconsistentQuantities(quantity, len(items))
	}
	if len(items) == 0 {
		return batch{}, errInvalidArgument("Your request must contain at least one invalidation path.")
	}
	b := batch{ref: ref, paths: items}
	for _, p := range items {
		if err := validatePath(p); err != nil {
			return batch{}, errInvalidArgument(fmt.Sprintf("Invalid path %s: %v", quoteShort(p), err))
		}
		if isWildcard(p) {
			b.wildcards++
		} else {
			b.files++
		}
	}
	return b, nil
}

// isWildcard reports whether p counts against the wildcard limit: a path
// ending in '*'. Tags never do (they take no wildcard).
func isWildcard(p string) bool {
	return strings.HasPrefix(p, "/") && strings.HasSuffix(p, "*")
}

// validatePath checks one Paths item against the rules cited above; nil
// means CloudFront would accept it.
func validatePath(p string) error {
	if p == "" {
		return fmt.Errorf("empty path")
	}
	if p[0] == '#' {
		return validateTag(p)
	}
	if p[0] != '/' {
		return fmt.Errorf("must start with '/'")
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return fmt.Errorf("'*' is allowed only as the last character")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("byte %#02x at %d must be percent-encoded (spaces, control characters and non-ASCII)", c, i)
		}
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("longer than %d characters", MaxPathLen)
	}
	return nil
}

func validateTag(p string) error {
	tag := p[1:]
	if tag == "" || len(tag) > MaxTagLen {
		return fmt.Errorf("a tag has 1 to %d characters", MaxTagLen)
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c < 33 || c > 126 || c == ',' || c == '*' {
			return fmt.Errorf("tag byte %#02x at %d is not allowed (visible ASCII except ',' and '*')", c, i+1)
		}
	}
	return nil
}

// quoteShort quotes p for an error message, cut to a readable length.
func quoteShort(p string) string {
	const keep = 80
	if len(p) > keep {
		return strconv.Quote(p[:keep]) + "…"
	}
	return strconv.Quote(p)
}
