package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// A minimal Chrome DevTools Protocol client for the browser test: start
// headless Chromium, open a page, evaluate JavaScript, take a screenshot.
// Only what the test needs; no third-party driver.

// chromiumPath finds Chromium, installing the Debian package when it is
// missing and the test runs as root with apt-get available. It returns ""
// with a reason when there is none.
func chromiumPath(t *testing.T) (string, string) {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, ""
		}
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		return "", "chromium is not installed (install the Debian package: apt-get install chromium)"
	}
	t.Log("chromium is not installed; installing the Debian package (apt-get install chromium)")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "chromium")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := cmd.CombinedOutput()
	if err != nil {
		// The package lists may be missing on a fresh machine.
		upd := exec.CommandContext(ctx, "apt-get", "update")
		if uo, uerr := upd.CombinedOutput(); uerr != nil {
			return "", fmt.Sprintf("apt-get update failed: %v\n%s", uerr, tail(uo))
		}
		cmd = exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "chromium")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err = cmd.CombinedOutput(); err != nil {
			return "", fmt.Sprintf("apt-get install chromium failed: %v\n%s", err, tail(out))
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, ""
	}
	return "", "apt-get install chromium ran but no chromium binary was found"
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// browser is a headless Chromium with one page attached over CDP.
type browser struct {
	cmd  *exec.Cmd
	ws   *websocket.Conn
	mu   sync.Mutex
	next int
	wait map[int]chan cdpReply
	// Problems collects console errors, CSP violations and exceptions.
	problems []string
	done     chan struct{}
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

var devtoolsRE = regexp.MustCompile(`DevTools listening on (ws://[^\s]+)`)

// startBrowser launches Chromium with the flags of a clean, quiet headless
// run and attaches to its first page.
func startBrowser(t *testing.T, path string) *browser {
	t.Helper()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
		"--remote-debugging-port=0", "--remote-allow-origins=*",
		"--hide-scrollbars", "--mute-audio", "--window-size=1440,900",
		"about:blank",
	}
	cmd := exec.Command(path, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var wsURL string
	select {
	case wsURL = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not print its DevTools address within 30s")
	}
	// ws://127.0.0.1:PORT/devtools/browser/ID -> the page target's socket.
	hostport := strings.TrimPrefix(wsURL, "ws://")
	hostport = hostport[:strings.IndexByte(hostport, '/')]
	pageWS := ""
	for i := 0; i < 50 && pageWS == ""; i++ {
		resp, err := http.Get("http://" + hostport + "/json/list")
		if err == nil {
			var targets []struct {
				Type string `json:"type"`
				WS   string `json:"webSocketDebuggerUrl"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
			for _, tg := range targets {
				if tg.Type == "page" && tg.WS != "" {
					pageWS = tg.WS
					break
				}
			}
		}
		if pageWS == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if pageWS == "" {
		t.Fatal("chromium has no page target")
	}
	ws, err := websocket.Dial(pageWS, "", "http://127.0.0.1/")
	if err != nil {
		t.Fatalf("connect to the page over CDP: %v", err)
	}
	ws.MaxPayloadBytes = 64 << 20
	b := &browser{cmd: cmd, ws: ws, wait: map[int]chan cdpReply{}, done: make(chan struct{})}
	t.Cleanup(func() { ws.Close(); <-b.done })
	go b.read()
	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if _, err := b.call(m, nil); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
	return b
}

// read dispatches replies and records problems reported by the page.
func (b *browser) read() {
	defer close(b.done)
	for {
		var msg struct {
			ID     int             `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
			cdpReply
		}
		if err := websocket.JSON.Receive(b.ws, &msg); err != nil {
			b.mu.Lock()
			for id, ch := range b.wait {
				close(ch)
				delete(b.wait, id)
			}
			b.mu.Unlock()
			return
		}
		switch msg.Method {
		case "":
			b.mu.Lock()
			ch := b.wait[msg.ID]
			delete(b.wait, msg.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- msg.cdpReply
			}
		case "Runtime.exceptionThrown":
			b.problem("exception: " + string(msg.Params))
		case "Log.entryAdded":
			var p struct {
				Entry struct {
					Level, Source, Text, URL string
				} `json:"entry"`
			}
			_ = json.Unmarshal(msg.Params, &p)
			if p.Entry.Level == "error" && !strings.HasSuffix(p.Entry.URL, "/favicon.ico") {
				b.problem(p.Entry.Source + ": " + p.Entry.Text)
			}
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(msg.Params, &p)
			if p.Type == "error" {
				b.problem("console.error: " + string(msg.Params))
			}
		}
	}
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, s)
}

// Problems returns what the page reported as errors so far.
func (b *browser) Problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// call sends one CDP command and waits for its reply.
func (b *browser) call(method string, params any) (json.RawMessage, error) {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpReply, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	if err := websocket.JSON.Send(b.ws, map[string]any{"id": id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return nil, io.ErrUnexpectedEOF
		}
		if r.Error != nil {
			return nil, errors.New(r.Error.Message)
		}
		return r.Result, nil
	case <-time.After(60 * time.Second):
		return nil, fmt.Errorf("%s: no reply within 60s", method)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its
// JSON-compatible value into out.
func (b *browser) eval(expr string, out any) error {
	res, err := b.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true})
	if err != nil {
		return err
	}
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	if r.Exception != nil {
		return fmt.Errorf("javascript: %s", r.Exception.Text)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// viewport sets the page size in CSS pixels.
func (b *browser) viewport(w, h int) error {
	_, err := b.call("Emulation.setDeviceMetricsOverride", map[string]any{"width": w, "height": h, "deviceScaleFactor": 1, "mobile": false})
	return err
}

// screenshot returns a PNG of the whole page.
func (b *browser) screenshot() ([]byte, error) {
	res, err := b.call("Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true})
	if err != nil {
		return nil, err
	}
	var r struct {
		Data []byte `json:"data"` // base64 in JSON, decoded by encoding/json
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, err
	}
	return r.Data, nil
}
