//go:build race

package e2e

// RaceEnabled: the tests run with -race, so [Main] builds the worker with it
// too, and a data race in the worker fails the test that provoked it.
const RaceEnabled = true
