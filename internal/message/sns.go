package message

// decodeSNS unwraps an SNS envelope. Without raw message delivery SNS
// delivers {"Type":"Notification","MessageId":…,"TopicArn":…,"Message":"<body>"}
// to SQS; the inner body may be a v1 message or an S3 event (S3 → SNS → SQS).
// Other envelope types (SubscriptionConfirmation, UnsubscribeConfirmation)
// need a person to act on them, so they are dead-lettered, not ignored.
func (d *Decoder) decodeSNS(m object) (Decoded, *Rejection) {
	typ, rej := m.str("Type")
	if rej != nil {
		return Decoded{}, rej
	}
	if typ != "Notification" {
		return Decoded{Format: "sns"}, reject(CodeUnsupported, "SNS message of type %s is not a notification", quote(typ))
	}
	if !m.present("Message") {
		return Decoded{Format: "sns"}, reject(CodeMalformed, `SNS notification without "Message"`)
	}
	inner, rej := m.str("Message")
	if rej != nil {
		return Decoded{Format: "sns"}, rej
	}
	out, rej := d.decode([]byte(inner), true)
	if out.Format != "" {
		out.Format = "sns/" + out.Format
	} else {
		out.Format = "sns"
	}
	if rej != nil {
		rej.Reason = "in SNS notification: " + rej.Reason
	}
	return out, rej
}
