package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A real headless Chromium for tests of the console page (Debian's
// `chromium` package; .ci/run installs it). [Browser] starts one per test
// and returns a [Tab] whose helpers fail the test with what they were
// doing:
//
//	tab := e2e.Browser(t)
//	tab.Navigate(base + "/")
//	tab.Type("#token", token)
//	tab.Click("#pause-E1")
//	tab.WaitText("#action-result", "paused")
//	if got := tab.Attr(`[data-distribution="E1"]`, "data-paused"); got != "true" { … }
//
// Selectors are CSS (document.querySelector). Every helper waits at most
// [BrowserTimeout].

// BrowserTimeout bounds each browser step.
var BrowserTimeout = 20 * time.Second

// ChromiumEnv names a browser binary to use instead of the one on PATH.
const ChromiumEnv = "E2E_CHROMIUM"

// ChromiumPath finds the browser: $E2E_CHROMIUM, else chromium,
// chromium-browser, google-chrome-stable or google-chrome on PATH.
func ChromiumPath() (string, error) {
	if p := os.Getenv(ChromiumEnv); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found: install Debian's chromium (apt-get install -y chromium) or set " + ChromiumEnv)
}

// BrowserFlags are the command line of the test browser: headless, no
// sandbox (root in CI), and nothing that reaches the network on its own
// (background networking, component and sync updates, QUIC): the machine
// has no network and refusals would flood the logs.
func BrowserFlags(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater"),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("force-color-profile", "srgb"),
	}
}

// StartBrowser starts a browser with a fresh profile in userDataDir and
// returns a context for one tab. cancel closes the browser and waits for
// its process to exit. It is for programs; tests use [Browser].
func StartBrowser(ctx context.Context, userDataDir string) (tab context.Context, cancel func(), err error) {
	path, err := ChromiumPath()
	if err != nil {
		return nil, nil, err
	}
	opts := append([]chromedp.ExecAllocatorOption{chromedp.ExecPath(path)}, BrowserFlags(userDataDir)...)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	tctx, tcancel := chromedp.NewContext(actx)
	// The first run starts the browser and binds it to tctx, which has no
	// deadline: a step's timeout must not close the browser.
	if err := chromedp.Do(tctx); err != nil {
		tcancel()
		acancel()
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	return tctx, func() {
		cctx, ccancel := context.WithTimeout(tctx, 10*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
		tcancel()
		acancel()
	}, nil
}

// Tab is one browser tab of a test.
type Tab struct {
	t   testing.TB
	Ctx context.Context // the chromedp context, for actions the helpers lack

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// Browser starts a headless Chromium with a fresh profile for t, closed when
// t ends. The page's console messages and uncaught exceptions are collected
// ([Tab.Console], [Tab.JSErrors]).
func Browser(t testing.TB) *Tab {
	t.Helper()
	ctx, cancel, err := StartBrowser(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("e2e browser: %v", err)
	}
	t.Cleanup(cancel)
	tab := &Tab{t: t, Ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() { // ends with the tab's context
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.console = append(tab.console, m)
			tab.mu.Unlock()
		}
	}()
	return tab
}

// Console returns the page's console messages so far.
func (b *Tab) Console() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.console...)
}

// JSErrors returns the console errors and uncaught exceptions so far (a
// Content-Security-Policy violation is a console error too).
func (b *Tab) JSErrors() []string {
	var out []string
	for _, m := range b.Console() {
		if m.IsException() || m.Type == chromedp.ConsoleError {
			out = append(out, m.String())
		}
	}
	return out
}

func (b *Tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, BrowserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

func run[T any](b *Tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, BrowserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// Navigate loads url and waits for its body.
func (b *Tab) Navigate(url string) {
	b.t.Helper()
	b.do("navigate to "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("body")))
}

// Text is the visible text of the first element matching sel (waiting for
// it to exist).
func (b *Tab) Text(sel string) string {
	b.t.Helper()
	return run(b, "text of "+sel, chromedp.TextContent(chromedp.CSS(sel)))
}

// Attr is an attribute of the first element matching sel ("" when absent).
func (b *Tab) Attr(sel, name string) string {
	b.t.Helper()
	r := run(b, "attribute "+name+" of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), name))
	return r.Value
}

// Count is how many elements match sel now (no wait).
func (b *Tab) Count(sel string) int {
	b.t.Helper()
	return Eval[int](b, fmt.Sprintf("document.querySelectorAll(%s).length", jsString(sel)))
}

// Click clicks the first element matching sel once it is visible and
// enabled.
func (b *Tab) Click(sel string) {
	b.t.Helper()
	b.do("click "+sel, chromedp.WaitEnabled(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// Type replaces the value of the input matching sel by typing text into it
// (key events, as a person types), once it is enabled.
func (b *Tab) Type(sel, text string) {
	b.t.Helper()
	clear := fmt.Sprintf(`(() => { const e = document.querySelector(%s); e.value = ""; e.dispatchEvent(new Event("input", {bubbles: true})); })()`, jsString(sel))
	b.do("type into "+sel, chromedp.WaitEnabled(chromedp.CSS(sel)), chromedp.Evaluate[chromedp.Void](clear), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// Value is the current value of the input matching sel.
func (b *Tab) Value(sel string) string {
	b.t.Helper()
	return run(b, "value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// WaitVisible waits until an element matching sel is visible.
func (b *Tab) WaitVisible(sel string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// WaitText waits until the text of the first element matching sel contains
// want (the page updates itself: an action's answer, a live refresh).
func (b *Tab) WaitText(sel, want string) {
	b.t.Helper()
	b.Wait(fmt.Sprintf("text of %s contains %q", sel, want),
		fmt.Sprintf("(() => { const e = document.querySelector(%s); return !!e && e.textContent.includes(%s); })()", jsString(sel), jsString(want)))
}

// WaitAttr waits until the first element matching sel has attribute name
// equal to want.
func (b *Tab) WaitAttr(sel, name, want string) {
	b.t.Helper()
	b.Wait(fmt.Sprintf("%s[%s=%q]", sel, name, want),
		fmt.Sprintf("(() => { const e = document.querySelector(%s); return !!e && e.getAttribute(%s) === %s; })()", jsString(sel), jsString(name), jsString(want)))
}

// Wait waits until the JavaScript expression is truthy; on timeout the
// test fails saying what it waited for.
func (b *Tab) Wait(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, BrowserTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(BrowserTimeout))); err != nil {
		b.t.Fatalf("browser: waiting until %s: %v", what, err)
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its value.
func Eval[T any](b *Tab, expr string) T {
	b.t.Helper()
	return run(b, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// Screenshot captures the whole page (beyond the viewport) as PNG.
func (b *Tab) Screenshot() []byte {
	b.t.Helper()
	return run(b, "full-page screenshot", chromedp.FullScreenshot(100))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
