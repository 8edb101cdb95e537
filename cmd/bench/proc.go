package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is a child process (fauxqs, the worker) in its own process group,
// so a Ctrl-C in the terminal reaches only the harness, which then stops it.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited and cmd.ProcessState is set
}

// start runs argv with the harness's environment minus AWS_* and
// INVALIDATOR_* variables (the caller's profile or overrides must not leak
// in), plus env; stdout and stderr go to logPath.
func start(name, logPath string, env []string, argv ...string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "INVALIDATOR_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill stops the whole process group at once and waits for the exit.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to grace for the exit; after that, or
// when ctx ends, it kills the process group.
func (p *proc) stop(ctx context.Context, grace time.Duration) error {
	if p.exited() {
		return fmt.Errorf("%s had already exited: %s", p.name, p.cmd.ProcessState)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		p.kill()
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.name, grace)
	case <-ctx.Done():
		p.kill()
		return ctx.Err()
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP polls url until it answers with any status (or with 200 when
// want200), the process exits, or within passes.
func waitHTTP(ctx context.Context, p *proc, url string, want200 bool, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%s); last log lines:\n%s", p.name, p.cmd.ProcessState, p.tail(20))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if !want200 || resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s within %s; last log lines:\n%s", p.name, url, within, p.tail(20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// repoRoot finds the module root (the directory holding go.mod) from the
// working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the module (no go.mod above the working directory); run from the repository")
		}
		dir = parent
	}
}

// startFauxqs starts the pinned fauxqs (tools/emulators) on a free port;
// with inflightFix, with fauxqs-inflight-fix.mjs preloaded.
func startFauxqs(ctx context.Context, root, dir string, inflightFix bool) (*proc, string, error) {
	emulators := filepath.Join(root, "tools", "emulators")
	bin := filepath.Join(emulators, "node_modules", ".bin", "fauxqs")
	if _, err := os.Stat(bin); err != nil {
		return nil, "", fmt.Errorf("fauxqs is not installed (run `make emulators`): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	env := []string{
		fmt.Sprintf("FAUXQS_PORT=%d", port),
		"FAUXQS_LOGGER=false",
		"FAUXQS_DEFAULT_REGION=" + region,
	}
	if inflightFix {
		env = append(env, "NODE_OPTIONS=--import="+filepath.Join(emulators, "fauxqs-inflight-fix.mjs"))
	}
	p, err := start("fauxqs", filepath.Join(dir, "fauxqs.log"), env, bin)
	if err != nil {
		return nil, "", err
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitHTTP(ctx, p, endpoint+"/", false, 30*time.Second); err != nil {
		p.kill()
		return nil, "", err
	}
	return p, endpoint, nil
}

// buildWorker builds ./cmd/worker into dir.
func buildWorker(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "worker")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/worker")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/worker: %w\n%s", err, msg)
	}
	return out, nil
}
