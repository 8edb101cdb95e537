//go:build !race

package e2e

// RaceEnabled: the tests run without -race, so the worker is built without.
const RaceEnabled = false
