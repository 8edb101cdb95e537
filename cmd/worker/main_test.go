package main

// The integration tests build the real binary once (internal/e2e), run it
// as a child process against emulators, and look at what it did through
// the interfaces an operator has (SQS, CloudFront, /metrics).

import (
	"testing"

	"github.com/acme/cf-invalidator/internal/e2e"
)

func TestMain(m *testing.M) { e2e.Main(m) }
