package httpserver

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/status/statustest"
)

type ctl struct {
	mu     sync.Mutex
	paused bool
	reason string
}

func (c *ctl) Pause(r string) { c.mu.Lock(); c.paused, c.reason = true, r; c.mu.Unlock() }
func (c *ctl) Resume()        { c.mu.Lock(); c.paused = false; c.mu.Unlock() }
func (c *ctl) Status() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return map[string]any{"paused": c.paused, "reason": c.reason}
}

func start(t *testing.T, token string) (*Server, *ctl) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "probe_total", Help: "x"}))
	s, err := Listen("127.0.0.1:0", reg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	c := &ctl{}
	s.EnableAdmin(token, c)
	go s.Serve()
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	return s, c
}

func do(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthReadyMetrics(t *testing.T) {
	s, _ := start(t, "")
	base := "http://" + s.Addr()
	if code, _ := do(t, "GET", base+"/healthz", ""); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := do(t, "GET", base+"/readyz", ""); code != 503 {
		t.Fatalf("readyz before ready = %d, want 503", code)
	}
	s.SetReady(true)
	if code, _ := do(t, "GET", base+"/readyz", ""); code != 200 {
		t.Fatalf("readyz after ready = %d", code)
	}
	if code, body := do(t, "GET", base+"/metrics", ""); code != 200 || !strings.Contains(body, "probe_total 0") {
		t.Fatalf("metrics %d %q", code, body)
	}
	if code, _ := do(t, "POST", base+"/admin/pause", "x"); code != 404 {
		t.Fatalf("admin without a token configured = %d, want 404", code)
	}
}

func TestAdminNeedsTheToken(t *testing.T) {
	s, c := start(t, "s3cret")
	base := "http://" + s.Addr()
	for _, tok := range []string{"", "wrong", "s3cre", "s3cret2"} {
		if code, _ := do(t, "POST", base+"/admin/pause", tok); code != 401 {
			t.Fatalf("token %q: %d, want 401", tok, code)
		}
	}
	if c.paused {
		t.Fatal("paused without the token")
	}
	code, body := do(t, "POST", base+"/admin/pause?reason=migration", "s3cret")
	if code != 200 || !strings.Contains(body, `"paused":true`) || c.reason != "migration" {
		t.Fatalf("pause: %d %s", code, body)
	}
	if code, body := do(t, "GET", base+"/admin/status", "s3cret"); code != 200 || !strings.Contains(body, `"paused":true`) {
		t.Fatalf("status: %d %s", code, body)
	}
	if code, body := do(t, "POST", base+"/admin/resume", "s3cret"); code != 200 || !strings.Contains(body, `"paused":false`) {
		t.Fatalf("resume: %d %s", code, body)
	}
	if code, _ := do(t, "GET", base+"/admin/pause", "s3cret"); code != 405 {
		t.Fatalf("GET pause = %d, want 405", code)
	}
}

// TestConsoleMounted: the console serves beside /metrics and /admin; its
// actions need the token and exist only when one is configured.
func TestConsoleMounted(t *testing.T) {
	for _, token := range []string{"", "s3cret"} {
		t.Run("token="+token, func(t *testing.T) {
			s, c := start(t, token)
			fake := statustest.New(statustest.Demo())
			s.EnableConsole(status.Options{Provider: fake, Controller: fake, Token: token})
			base := "http://" + s.Addr()
			if code, body := do(t, "GET", base+"/", ""); code != 200 || !strings.Contains(body, `data-distribution="`+statustest.Burst+`"`) {
				t.Fatalf("GET / = %d", code)
			}
			if code, body := do(t, "GET", base+"/api/status", ""); code != 200 || !strings.Contains(body, `"schema": 1`) {
				t.Fatalf("GET /api/status = %d %.100s", code, body)
			}
			if code, _ := do(t, "GET", base+"/metrics", ""); code != 200 {
				t.Fatalf("metrics = %d", code)
			}
			pause := func(tok string) int {
				req, _ := http.NewRequest("POST", base+"/api/pause", strings.NewReader(`{"target":"","reason":"maintenance"}`))
				req.Header.Set("Content-Type", "application/json")
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if token == "" {
				if code := pause("anything"); code != 404 {
					t.Errorf("POST /api/pause without admin_token = %d, want 404", code)
				}
				if code, _ := do(t, "GET", base+"/admin/status", "anything"); code != 404 {
					t.Errorf("/admin/status without admin_token = %d, want 404", code)
				}
				return
			}
			if code := pause(""); code != 401 {
				t.Errorf("POST /api/pause without the token = %d, want 401", code)
			}
			if code := pause(token); code != 200 || len(fake.Calls()) != 1 {
				t.Errorf("POST /api/pause with the token = %d, calls %+v", code, fake.Calls())
			}
			// The /admin endpoints keep working beside the console.
			if code, _ := do(t, "POST", base+"/admin/pause?reason=x", token); code != 200 || !c.paused {
				t.Errorf("/admin/pause = %d", code)
			}
		})
	}
}
