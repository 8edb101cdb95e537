// Package testenv starts the real emulators the integration tests talk to —
// moto server (SQS, CloudFront, S3, SNS) and fauxqs (SQS) — on free loopback
// ports, and stops them when the test ends.
//
// A missing emulator is a test failure, never a skip: CI must install them
// (see .ci/run), and a green run that silently skipped the integration tests
// would prove nothing.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region every emulator-backed test uses.
const Region = "us-east-1"

// RepoRoot returns the module root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("testenv: go env GOMOD: %v", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		t.Fatalf("testenv: not inside the module")
	}
	return filepath.Dir(mod)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Process is an emulator or binary started for one test.
type Process struct {
	Name     string
	Endpoint string // http://127.0.0.1:PORT for servers
	Cmd      *exec.Cmd
	out      *SyncBuffer
	done     chan struct{}
}

// Output returns what the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// Wait waits up to d for the process to exit and returns its exit code
// (-1 if it did not exit in time).
func (p *Process) Wait(d time.Duration) int {
	select {
	case <-p.done:
		return p.Cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Start runs a command in its own process group, captures its output and
// kills the group at test cleanup. The output is logged if the test failed.
// The child gets the test's whole environment plus env.
func Start(t testing.TB, name string, env []string, argv ...string) *Process {
	t.Helper()
	return start(t, name, append(os.Environ(), env...), argv)
}

func start(t testing.TB, name string, env []string, argv []string) *Process {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	buf := &SyncBuffer{}
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

// WaitHTTP polls url until it answers any HTTP status, or fails the test.
func WaitHTTP(t testing.TB, p *Process, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("testenv: %s exited before it was ready:\n%s", p.Name, p.Output())
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("testenv: %s not ready at %s within %s:\n%s", p.Name, url, within, p.Output())
}

// Moto starts `moto_server` on a free port and returns it.
func Moto(t testing.TB) *Process {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatalf("testenv: moto_server not on PATH (install moto[server]; .ci/run checks it): %v", err)
	}
	port := FreePort(t)
	p := Start(t, "moto_server", nil, bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	p.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	WaitHTTP(t, p, p.Endpoint+"/moto-api/", 30*time.Second)
	return p
}

// Fauxqs starts the fauxqs SQS emulator (tools/emulators, installed by
// `make emulators`) on a free port and returns it.
func Fauxqs(t testing.TB) *Process {
	t.Helper()
	bin := filepath.Join(RepoRoot(t), "tools", "emulators", "node_modules", ".bin", "fauxqs")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("testenv: fauxqs not installed at %s (run `make emulators`): %v", bin, err)
	}
	port := FreePort(t)
	p := Start(t, "fauxqs", []string{
		fmt.Sprintf("FAUXQS_PORT=%d", port),
		"FAUXQS_LOGGER=false",
		"FAUXQS_DEFAULT_REGION=" + Region,
	}, bin)
	p.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	WaitHTTP(t, p, p.Endpoint+"/", 30*time.Second)
	return p
}

// AWSEnv is the environment a child process (the worker, the aws cli) needs
// to reach the emulators: static test credentials and per-service endpoints.
func AWSEnv(sqsEndpoint, cloudfrontEndpoint string) []string {
	env := []string{
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
	}
	if sqsEndpoint != "" {
		env = append(env, "AWS_ENDPOINT_URL_SQS="+sqsEndpoint)
	}
	if cloudfrontEndpoint != "" {
		env = append(env, "AWS_ENDPOINT_URL_CLOUDFRONT="+cloudfrontEndpoint)
	}
	return env
}

// AWSConfig returns an SDK config with static test credentials, for building
// real SDK clients pointed at an emulator with BaseEndpoint.
func AWSConfig() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
}

// AWSCLI runs the aws cli against endpoint and returns its stdout.
func AWSCLI(t testing.TB, endpoint string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"--endpoint-url", endpoint, "--output", "json"}, args...)
	cmd := exec.CommandContext(ctx, "aws", argv...)
	cmd.Env = append(os.Environ(), AWSEnv("", "")...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("testenv: aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers
// (a child's stdout and stderr, a simulator's handlers and the test).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
