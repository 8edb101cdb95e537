// Command screenshot renders the console page over the demo snapshot
// (statustest.Demo: two distributions, one under a quota burst) in headless
// Chromium and writes a full-page PNG, the README's docs/console.png:
//
//	go run ./internal/status/screenshot -o docs/console.png
//
// It serves on loopback only and exits when the picture is written.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/acme/cf-invalidator/internal/e2e"
	"github.com/acme/cf-invalidator/internal/status"
	"github.com/acme/cf-invalidator/internal/status/statustest"
)

func main() {
	out := flag.String("o", "docs/console.png", "PNG file to write")
	width := flag.Int("width", 1440, "viewport width in CSS pixels")
	flag.Parse()
	if err := run(*out, *width); err != nil {
		fmt.Fprintln(os.Stderr, "screenshot:", err)
		os.Exit(1)
	}
}

func run(out string, width int) error {
	fake := statustest.New(statustest.Demo())
	mux := http.NewServeMux()
	status.New(status.Options{Provider: fake, Controller: fake, Token: "demo-token", Refresh: 5 * time.Second}).Mount(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	dir, err := os.MkdirTemp("", "console-screenshot-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tab, closeBrowser, err := e2e.StartBrowser(ctx, dir)
	if err != nil {
		return err
	}
	defer closeBrowser()
	png, err := chromedp.Run(tab, shoot("http://"+ln.Addr().String()+"/", int64(width)))
	if err != nil {
		return err
	}
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		return errors.New("the browser did not return a PNG")
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes)\n", out, len(png))
	return nil
}

func shoot(url string, width int64) chromedp.Action[[]byte] {
	return func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		err := chromedp.Do(ctx,
			chromedp.EmulateViewport(width, 900),
			chromedp.Navigate(url),
			// The script has run: the live indicator is on, controls enabled.
			chromedp.Poll[chromedp.Void](`document.getElementById("live-state").dataset.state === "ok"`),
			chromedp.WaitEnabled(chromedp.CSS("#pause-"+statustest.Burst)),
		)
		if err != nil {
			return nil, err
		}
		return chromedp.FullScreenshot(100)(ctx, t)
	}
}
