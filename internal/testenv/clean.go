package testenv

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
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
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(CleanEnv(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	buf := &syncBuffer{}
	cmd.Stdout = buf
	cmd.Stderr = buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s (%s): %v", name, argv[0], err)
	}
	p := &Process{Name: name, Cmd: cmd, out: buf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if t.Failed() {
			out := p.Output()
			if len(out) > 20000 {
				out = "…" + out[len(out)-20000:]
			}
			t.Logf("--- %s output ---\n%s", name, out)
		}
	})
	return p
}
