// Package e2e is the end-to-end harness of the integration tests: it builds
// the worker binary once per test package, runs it (one replica or several)
// against the emulators internal/testenv starts and the CloudFront simulator
// internal/cfsim, and looks at what it did through the interfaces an
// operator has: SQS, CloudFront, /metrics and the worker's exit code.
//
// Its central check is [CheckDeletesJustified], the worker's core promise
// seen from outside: an SQS recording proxy ([NewSQSProxy]) in front of the
// emulator learns each message's SentTimestamp, body and deletes, and every
// delete must be justified by accepted invalidations created after the send
// and no later than the delete (or, for poison, by its copy in the
// dead-letter queue).
//
// The package is for tests only (it imports "testing"); a test package uses
// it from its TestMain:
//
//	func TestMain(m *testing.M) { e2e.Main(m) }
package e2e
