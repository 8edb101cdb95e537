// Package schema holds the JSON Schemas of the worker's v1 message
// (message-v1.schema.json), the format producers send to the invalidation
// queue, and of its status snapshot (status-v1.schema.json, GET
// /api/status). Its tests check the message schema against the decoder in
// internal/message and decode every producer example in examples/;
// internal/status's tests check the status schema against its types.
package schema

import _ "embed"

// MessageV1 is message-v1.schema.json (JSON Schema draft 2020-12).
//
//go:embed message-v1.schema.json
var MessageV1 []byte

// StatusV1 is status-v1.schema.json (JSON Schema draft 2020-12): the
// worker's GET /api/status, the console's snapshot (internal/status).
//
//go:embed status-v1.schema.json
var StatusV1 []byte
