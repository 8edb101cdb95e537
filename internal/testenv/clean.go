package testenv

import (
	"os"
	"strings"
	"testing"
)

// CleanEnv returns the test's environment without the variables that would
// change what a child under test sees: every AWS_* (a developer's profile,
// endpoint or credentials) and every INVALIDATOR_* (the worker refuses
// unknown ones and takes known ones as config).
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "INVALIDATOR_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// StartClean is [Start] with [CleanEnv] instead of the whole environment as
// the base that env is added to: the child sees only the AWS_* and
// INVALIDATOR_* variables the test gives it.
func StartClean(t testing.TB, name string, env []string, argv ...string) *Process {
	t.Helper()
	return start(t, name, append(CleanEnv(), env...), argv)
}
