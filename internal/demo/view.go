package demo

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/internal/dashboard"
	"github.com/personas-dev/personas/schemas"
)

// ANSI escape codes of the terminal view.
const (
	ansiReset   = "\033[0m"
	ansiBold    = "\033[1m"
	ansiDim     = "\033[2m"
	ansiRed     = "\033[31m"
	ansiGreen   = "\033[32m"
	ansiYellow  = "\033[33m"
	ansiBlue    = "\033[34m"
	ansiMagenta = "\033[35m"
	ansiCyan    = "\033[36m"
	clearLine   = "\033[K"
	clearBelow  = "\033[J"
	home        = "\033[H"
	altScreen   = "\033[?1049h"
	mainScreen  = "\033[?1049l"
	hideCursor  = "\033[?25l"
	showCursor  = "\033[?25h"
)

// isTerminal reports whether w is a character device (an interactive
// terminal), the same test `personas generate` uses for its progress bar.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// view is the demo's terminal output. On a terminal it shows a spinner while
// things start and then a live summary refreshed in place on the alternate
// screen; elsewhere (CI, tests, a pipe) it prints plain lines and a summary
// block every few seconds.
type view struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	alt   bool
	stopS chan struct{}
	doneS chan struct{}
}

func newView(w io.Writer, plain bool) *view {
	return &view{w: w, tty: !plain && isTerminal(w)}
}

func (v *view) style(code, s string) string {
	if !v.tty {
		return s
	}
	return code + s + ansiReset
}

// step shows msg with a spinner until the returned function is called with
// the outcome (ok, and a detail such as an address or a duration).
func (v *view) step(msg string) func(ok bool, detail string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.tty {
		return func(ok bool, detail string) {
			v.mu.Lock()
			defer v.mu.Unlock()
			mark := "ok  "
			if !ok {
				mark = "FAIL"
			}
			fmt.Fprintf(v.w, "  %s %s  %s\n", mark, msg, detail)
		}
	}
	v.stopS, v.doneS = make(chan struct{}), make(chan struct{})
	stop, done := v.stopS, v.doneS
	go func() {
		defer close(done)
		frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
		t := time.NewTicker(80 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			v.mu.Lock()
			fmt.Fprintf(v.w, "\r  %s %s%s", v.style(ansiCyan, frames[i%len(frames)]), msg, clearLine)
			v.mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func(ok bool, detail string) {
		close(stop)
		<-done
		v.mu.Lock()
		defer v.mu.Unlock()
		mark := v.style(ansiGreen, "✔")
		if !ok {
			mark = v.style(ansiRed, "✘")
		}
		fmt.Fprintf(v.w, "\r  %s %s  %s%s\n", mark, msg, v.style(ansiDim, detail), clearLine)
	}
}

// println writes one line.
func (v *view) println(s string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintln(v.w, s)
}

// frame draws the live summary: in place on a terminal, as a block of
// lines otherwise.
func (v *view) frame(lines []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.tty {
		fmt.Fprintln(v.w, strings.Join(lines, "\n"))
		fmt.Fprintln(v.w)
		return
	}
	var b strings.Builder
	if !v.alt {
		b.WriteString(altScreen + hideCursor)
		v.alt = true
	}
	b.WriteString(home)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString(clearLine + "\n")
	}
	b.WriteString(clearBelow)
	_, _ = io.WriteString(v.w, b.String())
}

// leave returns from the live view to the normal screen.
func (v *view) leave() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.alt {
		_, _ = io.WriteString(v.w, mainScreen+showCursor)
		v.alt = false
	}
}

// snapshot is what one frame shows.
type snapshot struct {
	elapsed   time.Duration
	shopClock string
	dayLen    time.Duration
	url       string
	k         int
	stats     *dashboard.Stats
	rates     rates
	figures   *dashboard.Figures
	changes   *dashboard.Changes
	// changesErr says why the segment changes could not be read.
	changesErr string
	titles     map[string]string // persona -> title
	final      bool
}

// rates are per-second rates over the last few seconds.
type rates struct {
	generated, ingestIn, ingestOut, aggregated, dlq, bots float64
	ok                                                    bool
}

// ratesOf computes the rates between two counter readings.
func ratesOf(prev, cur *dashboard.Stats, dt time.Duration) rates {
	if prev == nil || cur == nil || dt <= 0 {
		return rates{}
	}
	s := dt.Seconds()
	r := func(a, b int64) float64 { return max(0, float64(a-b)/s) }
	return rates{
		generated:  r(cur.Generated, prev.Generated),
		ingestIn:   r(cur.IngestIn, prev.IngestIn),
		ingestOut:  r(cur.IngestOut, prev.IngestOut),
		aggregated: r(cur.AggregateOut, prev.AggregateOut),
		dlq:        r(cur.DLQTotal, prev.DLQTotal),
		bots:       r(cur.Bots, prev.Bots),
		ok:         true,
	}
}

// personaColors cycle over the personas in model order.
var personaColors = []string{ansiBlue, ansiGreen, ansiMagenta, ansiYellow, ansiCyan, ansiRed}

// render lays a snapshot out as lines of at most about 100 columns.
func (v *view) render(s snapshot) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	bold := func(x string) string { return v.style(ansiBold, x) }
	dim := func(x string) string { return v.style(ansiDim, x) }

	if s.final {
		add("%s", bold("Personas demo: summary after "+fmtDuration(s.elapsed)))
	} else if v.tty {
		add(" %s  %s   running %s · shop clock %s (a day every %s)   %s",
			v.style(ansiCyan, "◐"), bold("Personas demo"), fmtDuration(s.elapsed), bold(s.shopClock),
			segment.FormatWindow(s.dayLen), dim("Ctrl-C to stop"))
		add(" Dashboard %s   %s", v.style(ansiCyan+ansiBold, s.url),
			dim(fmt.Sprintf("k = %d for the demo (production default 100)", s.k)))
		add("")
	} else {
		add("── Personas demo · %s · shop clock %s · dashboard %s ──", fmtDuration(s.elapsed), s.shopClock, s.url)
	}

	st := s.stats
	if st == nil {
		st = &dashboard.Stats{DLQ: map[string]int64{}}
	}
	rate := func(x float64) string {
		if !s.rates.ok {
			return "–"
		}
		return fmtInt(int64(x+0.5)) + "/s"
	}
	share := func(n int64) string {
		if st.IngestIn == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(st.IngestIn))
	}
	add("%s", bold(fmt.Sprintf(" %-16s %10s %11s", "Throughput", "now", "total")))
	row := func(name string, r float64, total int64, note string) {
		add(" %-16s %10s %11s   %s", name, rate(r), fmtInt(total), dim(note))
	}
	row("generated", s.rates.generated, st.Generated, "synthetic web-shop traffic → clickstream.raw (PII included)")
	row("ingested", s.rates.ingestIn, st.IngestIn, "raw messages read by the ingest stage")
	row("anonymized", s.rates.ingestOut, st.IngestOut, "→ personas.events.v1")
	row("aggregated", s.rates.aggregated, st.AggregateOut, "→ persona figures in Redis")
	row("dead-lettered", s.rates.dlq, st.DLQTotal, share(st.DLQTotal)+" of input → personas.dlq.v1")
	row("bots", s.rates.bots, st.Bots, share(st.Bots)+" of input, kept out of every persona")
	add("")

	// Personas.
	f := s.figures
	if f == nil {
		add("%s", bold(" Personas")+dim("  waiting for the first figures…"))
	} else {
		add("%s", bold(fmt.Sprintf(" Personas · last %-6s %9s %9s   %s", f.Window, "visitors", "events", "top categories")))
		ps := slices.Clone(f.Personas)
		slices.SortStableFunc(ps, func(a, b schemas.Figures) int {
			if a.Suppressed != b.Suppressed {
				if a.Suppressed {
					return 1
				}
				return -1
			}
			return int(deref(b.Visitors) - deref(a.Visitors))
		})
		colorOf := map[string]string{}
		for i, p := range f.Personas {
			colorOf[p.Persona] = personaColors[i%len(personaColors)]
		}
		var hidden []string
		for _, p := range ps {
			title := s.titles[p.Persona]
			if title == "" {
				title = p.Persona
			}
			if p.Suppressed {
				hidden = append(hidden, title)
				continue
			}
			add(" %s %-22s %9s %9s   %s", v.style(colorOf[p.Persona], "●"), clip(title, 22),
				fmtInt(deref(p.Visitors)), fmtInt(deref(p.Events)), dim(topCategories(p, 3)))
		}
		if len(hidden) > 0 {
			lines := wrap(append([]string{fmt.Sprintf("suppressed (fewer than %d visitors, nothing published):", f.Threshold)}, hidden...), ", ", 94)
			for i, l := range lines {
				l = strings.Replace(l, ":, ", ": ", 1)
				mark := " "
				if i == 0 {
					mark = v.style(ansiDim, "○")
				}
				add(" %s %s", mark, dim(l))
			}
		}
		bots := "below k"
		if f.Bots != nil {
			bots = fmtInt(*f.Bots)
		}
		add(" %s", dim(fmt.Sprintf("%d persona flows of ≥ k visitors · bot events in the window: %s", len(f.Flows), bots)))
	}
	add("")

	// Segment changes.
	add("%s", bold(fmt.Sprintf(" Segment changes · %s published (▲ %s entered, ▼ %s exited)",
		fmtInt(st.Entered+st.Exited), fmtInt(st.Entered), fmtInt(st.Exited))))
	n := 0
	if s.changes != nil {
		for _, c := range s.changes.Changes {
			if n == 5 {
				break
			}
			n++
			arrow, verb := v.style(ansiGreen, "▲"), "entered"
			if c.Type == schemas.SegmentExited {
				arrow, verb = v.style(ansiRed, "▼"), "left   "
			}
			seg := c.Title
			if seg == "" {
				seg = c.Segment
			}
			who := s.titles[c.Persona]
			if who == "" {
				who = c.Persona
			}
			fig := "below k"
			if !c.Figures.Suppressed {
				fig = fmtInt(deref(c.Figures.Visitors)) + " visitors"
			}
			add(" %s  %s %-22s %s %-28s %s", dim(shortTime(c.EvaluatedAt)), arrow, clip(who, 22), verb, clip(seg, 28),
				dim(c.Window+" window, "+fig))
		}
	}
	switch {
	case n == 0 && s.changesErr != "":
		add(" %s", dim("cannot read the segment-changes topic just now: "+clip(s.changesErr, 70)))
	case n == 0:
		add(" %s", dim("none yet: segments are evaluated every emit tick once personas pass k"))
	}
	add("")

	// DLQ.
	add("%s", bold(fmt.Sprintf(" Dead-letter queue · %s records by reason", fmtInt(st.DLQTotal))))
	if len(st.DLQ) == 0 {
		add(" %s", dim("nothing yet"))
	} else {
		reasons := make([]string, 0, len(st.DLQ))
		for r := range st.DLQ {
			reasons = append(reasons, r)
		}
		slices.SortFunc(reasons, func(a, b string) int {
			if st.DLQ[a] != st.DLQ[b] {
				return int(st.DLQ[b] - st.DLQ[a])
			}
			return strings.Compare(a, b)
		})
		var parts []string
		for _, r := range reasons {
			parts = append(parts, r+" "+fmtInt(st.DLQ[r]))
		}
		for _, l := range wrap(parts, " · ", 96) {
			add(" %s", l)
		}
	}
	return out
}

func topCategories(p schemas.Figures, n int) string {
	type cat struct {
		name string
		n    int64
	}
	var cs []cat
	for name, c := range p.ByCategory {
		cs = append(cs, cat{name, c})
	}
	slices.SortFunc(cs, func(a, b cat) int {
		if a.n != b.n {
			return int(b.n - a.n)
		}
		return strings.Compare(a.name, b.name)
	})
	ev := deref(p.Events)
	var parts []string
	for i, c := range cs {
		if i == n {
			break
		}
		if ev > 0 {
			parts = append(parts, fmt.Sprintf("%s %d%%", c.name, c.n*100/ev))
		}
	}
	if len(parts) == 0 {
		return "no category with ≥ k events"
	}
	return strings.Join(parts, " · ")
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// fmtInt writes n with thousands separators: 12,345.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// fmtDuration writes 0:42, 12:05 or 1:02:05.
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, sec := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%02d", h, m, sec)
	}
	return fmt.Sprintf("%d:%02d", m, sec)
}

func shortTime(rfc string) string {
	t, err := time.Parse(time.RFC3339Nano, rfc)
	if err != nil {
		return "        "
	}
	return t.Local().Format("15:04:05")
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// wrap joins parts with sep into lines of at most width runes.
func wrap(parts []string, sep string, width int) []string {
	var lines []string
	cur := ""
	for _, p := range parts {
		if cur != "" && utf8.RuneCountInString(cur)+len(sep)+utf8.RuneCountInString(p) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += sep
		}
		cur += p
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
