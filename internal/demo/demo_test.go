package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildPersonas builds the personas binary once per test run.
var buildPersonas = sync.OnceValues(func() (string, error) {
	dir, err := mkTemp()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "personas")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "../../cmd/personas")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{err, string(out)}
	}
	return bin, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + e.out }

func personasBinary(t *testing.T) string {
	t.Helper()
	bin, err := buildPersonas()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestDemoCommand runs `personas demo --duration 10s` as a user would (its
// output is not a terminal, so it prints plain summary blocks) and checks
// that the output shows personas, segment changes and DLQ counts.
func TestDemoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for 10 seconds")
	}
	bin := personasBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, bin, "demo", "--duration", "10s", "--http", "127.0.0.1:0", "--every", "4s").CombinedOutput()
	took := time.Since(start)
	text := string(out)
	if err != nil {
		t.Fatalf("personas demo: %v\n%s", err, text)
	}
	t.Logf("personas demo --duration 10s took %s", took.Round(100*time.Millisecond))
	if strings.Contains(text, "\033[") {
		t.Error("ANSI escape codes in output that is not a terminal")
	}
	summary := text[strings.LastIndex(text, "summary after"):]
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`ready in \d+\.\ds`),
		regexp.MustCompile(`Dashboard  http://127\.0\.0\.1:\d+/`),
		regexp.MustCompile(`k = 20 \(production default 100\)`),
	} {
		if !want.MatchString(text) {
			t.Errorf("output lacks %s:\n%s", want, text)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`generated +[\d,]+/s +[1-9][\d,]*`),
		regexp.MustCompile(`Personas · last 5m`),
		regexp.MustCompile(`● [A-Z][a-z].* +[1-9][\d,]* +[1-9][\d,]* +\w+ \d+%`), // a persona with visitors, events, top category
		regexp.MustCompile(`Segment changes · [1-9][\d,]* published`),
		regexp.MustCompile(`▲ .* entered .*window, [\d,]+ visitors`),
		regexp.MustCompile(`Dead-letter queue · [1-9][\d,]* records by reason`),
		regexp.MustCompile(`(bad_json|schema_violation|invalid_utf8|too_large|too_deep|no_identifier) [1-9]`),
	} {
		if !want.MatchString(summary) {
			t.Errorf("summary lacks %s:\n%s", want, summary)
		}
	}
	// The demo must start in under 5 s; the race detector makes every part
	// of the pipeline several times slower.
	limit := 5 * time.Second
	if raceEnabled {
		limit = 20 * time.Second
	}
	if start := startTime(text); start > limit {
		t.Errorf("demo took %s to start; want under %s", start, limit)
	}
}

var readyRE = regexp.MustCompile(`ready in (\d+\.\d)s`)

func startTime(out string) time.Duration {
	m := readyRE.FindStringSubmatch(out)
	if m == nil {
		return time.Hour
	}
	d, _ := time.ParseDuration(m[1] + "s")
	return d
}

// TestDemoInterrupt stops the demo with SIGINT (Ctrl-C) while its
// dashboard is being read: it must shut down gracefully and print the summary.
func TestDemoInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	bin := personasBinary(t)
	cmd := exec.Command(bin, "demo", "--http", "127.0.0.1:0", "--every", "1h")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var all []string
	url := ""
	timeout := time.After(60 * time.Second)
	for url == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited before it was ready:\n%s", strings.Join(all, "\n"))
			}
			all = append(all, l)
			if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "Dashboard  "); ok {
				url = rest
			}
		case <-timeout:
			t.Fatalf("no dashboard URL within 60s:\n%s", strings.Join(all, "\n"))
		}
	}
	resp, err := http.Get(url + "api/overview")
	if err != nil {
		t.Fatal(err)
	}
	var ov struct {
		Mode string `json:"mode"`
		K    int    `json:"k"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&ov)
	resp.Body.Close()
	if ov.Mode != "demo" || ov.K != 20 {
		t.Errorf("overview: %+v", ov)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for l := range lines {
			all = append(all, l)
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo after SIGINT: %v\n%s", err, strings.Join(all, "\n"))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("demo did not stop within 30s of SIGINT:\n%s", strings.Join(all, "\n"))
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{"Stopping: finishing the batches in flight", "summary after"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
