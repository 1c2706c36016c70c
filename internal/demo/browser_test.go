package demo

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the dashboard screenshot to docs/images/dashboard.png")

// TestDashboardInBrowser opens the demo's dashboard in headless Chromium,
// waits for live data, checks that every panel is filled and that the page
// reports no error (a CSP violation included), and takes a screenshot.
func TestDashboardInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo and a browser for about half a minute")
	}
	chrome, why := chromiumPath(t)
	if chrome == "" {
		if os.Getenv("PERSONAS_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PERSONAS_REQUIRE_SERVICES=1 but no browser: %s", why)
		}
		t.Skipf("no browser: %s", why)
	}

	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	runErr := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		runErr <- Run(ctx, Options{HTTP: "127.0.0.1:0", Out: &out, Plain: true, Every: time.Hour,
			Ready: func(u string) { urls <- u }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("demo: %v\n%s", err, out.String())
		}
	})
	var url string
	select {
	case url = <-urls:
	case err := <-runErr:
		t.Fatalf("demo stopped at start: %v\n%s", err, out.String())
	case <-time.After(2 * time.Minute):
		t.Fatal("demo not ready within 2m")
	}

	b := startBrowser(t, chrome)
	if err := b.viewport(1440, 900); err != nil {
		t.Fatal(err)
	}
	if _, err := b.call("Page.navigate", map[string]any{"url": url}); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}

	// Wait for live data in every panel.
	type filled struct {
		Personas, Flows, Feed, Sample string
	}
	var f filled
	wait := 60 * time.Second
	if raceEnabled {
		wait = 3 * time.Minute // the race detector slows the pipeline down several times
	}
	deadline := time.Now().Add(wait)
	for {
		err := b.eval(`({Personas: document.body.dataset.personas || "", Flows: document.body.dataset.flows || "",
			Feed: document.body.dataset.feed || "", Sample: document.body.dataset.sample || ""})`, &f)
		if err == nil && f.Personas > "0" && f.Flows > "0" && f.Feed > "0" && f.Sample > "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dashboard not filled within %s: %+v (err %v)", wait, f, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Let the sparklines collect some history before looking closer.
	time.Sleep(16 * time.Second)

	var dom struct {
		Cards, Shown, Flows, Feed, RawLines, Removed, Changed, KPIs int
		Anon, RawIDs                                                string
		Live, Mode, Notes                                           string
	}
	err := b.eval(`(() => {
		const q = (s) => document.querySelectorAll(s).length;
		const raw = [...document.querySelectorAll("#sample-raw .ln")];
		const ids = raw.filter((l) => /"(anonymousId|userId|ip|email)"/.test(l.textContent))
			.map((l) => l.querySelector(".v").textContent.replace(/"/g, "")).join("\n");
		return {Cards: q("#cards .card"), Shown: q("#cards .card:not(.suppressed)"),
			Flows: q("#flows path.flow"), Feed: q("#feed li"), RawLines: raw.length,
			Removed: q("#sample-raw .ln.m-removed"), Changed: q("#sample-raw .ln.m-changed"),
			KPIs: q("#kpis .kpi svg.spark path.line"),
			Anon: document.getElementById("sample-anon").textContent, RawIDs: ids,
			Live: document.getElementById("live").dataset.state, Mode: document.getElementById("mode").textContent,
			Notes: document.getElementById("notes").textContent};
	})()`, &dom)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard: %d cards (%d shown), %d flows, %d feed items, %d sample lines, live=%s",
		dom.Cards, dom.Shown, dom.Flows, dom.Feed, dom.RawLines, dom.Live)
	switch {
	case dom.Cards < 5 || dom.Shown < 1:
		t.Errorf("persona cards: %d, %d with figures; want every persona and some above k", dom.Cards, dom.Shown)
	case dom.Flows < 1:
		t.Error("the flow view is empty")
	case dom.Feed < 1:
		t.Error("the segment-change feed is empty")
	case dom.RawLines < 5 || dom.Removed < 1 || dom.Changed < 1:
		t.Errorf("the raw/anonymized panel is not marked up: %d lines, %d removed, %d changed", dom.RawLines, dom.Removed, dom.Changed)
	case dom.KPIs < 5:
		t.Errorf("only %d KPI sparklines drawn", dom.KPIs)
	case dom.Live != "live":
		t.Errorf("live indicator is %q", dom.Live)
	case dom.Mode != "Demo" || !strings.Contains(dom.Notes, "k = 20"):
		t.Errorf("the page does not say it is the demo with k = 20: mode %q, notes %q", dom.Mode, dom.Notes)
	}
	// The anonymized side never repeats an identifier of the raw side.
	for _, id := range strings.Split(dom.RawIDs, "\n") {
		if len(id) >= 6 && strings.Contains(dom.Anon, id) {
			t.Errorf("identifier %q of the synthetic raw event appears in its anonymized form", id)
		}
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("the page reported errors:\n%s", strings.Join(p, "\n"))
	}

	// Screenshot of the whole page.
	var height int
	if err := b.eval(`Math.ceil(document.documentElement.scrollHeight)`, &height); err != nil {
		t.Fatal(err)
	}
	if err := b.viewport(1440, height); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	png, err := b.screenshot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.ArtifactDir(), "dashboard.png")
	if *updateScreenshot {
		path = filepath.Join("..", "..", "docs", "images", "dashboard.png")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (%d bytes, 1440x%d): %s", len(png), height, path)
}
