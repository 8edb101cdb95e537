// Package schema holds the JSON Schema of the worker's v1 message
// (message-v1.schema.json), the format producers send to the invalidation
// queue. Its tests check the schema against the decoder in internal/message
// and decode every producer example in examples/.
package schema

import _ "embed"

// MessageV1 is message-v1.schema.json (JSON Schema draft 2020-12).
//
//go:embed message-v1.schema.json
var MessageV1 []byte
