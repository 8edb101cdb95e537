//go:build !race

package main

// raceEnabled: the tests run without -race, so the worker is built without.
const raceEnabled = false
