// Package dashboard is the live dashboard of a Personas process: one page
// of plain HTML, CSS and JavaScript embedded in the binary (no build step,
// nothing loaded from elsewhere) and the JSON API it polls, both served on
// the process's HTTP server next to /healthz and /metrics.
//
// The page shows what the pipeline publishes, never more: every persona
// figure passes the same k-anonymity gate (privacy.GateWindow) as the
// snapshots and `personas query`, so a persona below k is shown as
// suppressed, without numbers. Segment changes are read from the end of the
// segment-changes topic without a consumer group, segment states from the
// emit store, throughput and DLQ counts from this process's metrics.
//
// The raw/anonymized panel is the one place with personal data, and it is
// synthetic: an event made up by package synth and run through the real
// ingest transform under a key created for that request and then dropped.
// Real input is never shown, in the demo or in production.
//
// API (GET, JSON):
//
//	/api/overview            k, windows, personas, segments, demo notes
//	/api/figures?window=5m   gated persona figures, flows and bots of a window
//	/api/stats               this process's counters (rates are computed by the client)
//	/api/changes?limit=30    latest segment changes and the segment states
//	/api/sample              a synthetic raw event and its anonymized form, marked up
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/personas-dev/personas/emit/privacy"
	"github.com/personas-dev/personas/emit/segment"
	"github.com/personas-dev/personas/internal/app"
)

//go:embed assets
var assets embed.FS

// Options tune the dashboard.
type Options struct {
	// DefaultWindow is the window the page opens with. Default: the
	// shortest configured window of at least 5m, else the shortest.
	DefaultWindow time.Duration
	// Demo, when set, marks the page as the in-process demo.
	Demo *Demo
}

// Demo is what only the demo knows.
type Demo struct {
	// Notes are the settings that differ from production, shown on the page.
	Notes []string
	// Generated returns how many events the generator produced so far.
	Generated func() int64
	// ShopClock returns the simulated local time of the shop, like "14:05".
	ShopClock func() string
}

// Dashboard serves the page and the API of one process.
type Dashboard struct {
	src *Source
	opt Options
	log *zap.Logger

	sampleMu   sync.Mutex
	sampleBusy bool
}

// Register adds the dashboard to the process's HTTP server: the page at /
// and the API under /api/. Call it before a.Run.
func Register(a *app.App, opt Options) *Dashboard {
	d := New(a, opt)
	a.Handlers["/"] = d.Page()
	a.Handlers["/api/"] = d.API()
	return d
}

// New returns the dashboard of a process without registering it.
func New(a *app.App, opt Options) *Dashboard {
	src := NewSource(a)
	if opt.DefaultWindow == 0 {
		ws := src.Windows()
		if len(ws) > 0 {
			opt.DefaultWindow = ws[0]
		}
		for _, w := range ws {
			if w >= 5*time.Minute {
				opt.DefaultWindow = w
				break
			}
		}
	}
	return &Dashboard{src: src, opt: opt, log: a.Log.Named("dashboard")}
}

// Source is the dashboard's data reader (the demo's terminal view uses it too).
func (d *Dashboard) Source() *Source { return d.src }

// Page serves the embedded page and its assets.
func (d *Dashboard) Page() http.Handler {
	sub, _ := fs.Sub(assets, "assets")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		switch r.URL.Path {
		case "/", "/index.html", "/app.css", "/app.js", "/favicon.svg":
		default:
			http.NotFound(w, r)
			return
		}
		securityHeaders(w)
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// securityHeaders keep the page self-contained: nothing may be loaded from
// or sent to another origin.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// API serves the JSON API under /api/.
func (d *Dashboard) API() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/overview", d.overview)
	mux.HandleFunc("GET /api/figures", d.figures)
	mux.HandleFunc("GET /api/stats", d.stats)
	mux.HandleFunc("GET /api/changes", d.changes)
	mux.HandleFunc("GET /api/sample", d.sample)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

// Overview describes the process: what the page needs once.
type Overview struct {
	Mode          string        `json:"mode"` // demo or production
	K             int           `json:"k"`
	Threshold     int64         `json:"threshold"`
	Windows       []string      `json:"windows"`
	DefaultWindow string        `json:"default_window"`
	Personas      []PersonaInfo `json:"personas"`
	Segments      []SegmentInfo `json:"segments"`
	Notes         []string      `json:"notes"`
	Topics        []string      `json:"topics"`
	Tick          string        `json:"tick"`
	ShopClock     string        `json:"shop_clock,omitempty"`
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	src := d.src
	cfg := src.a.Cfg
	o := Overview{
		Mode:          "production",
		K:             src.K(),
		Threshold:     privacy.VisitorThreshold(src.K()),
		DefaultWindow: segment.FormatWindow(d.opt.DefaultWindow),
		Personas:      src.Personas(),
		Segments:      src.Segments(),
		Notes:         []string{},
		Topics:        []string{cfg.Kafka.Topics.Raw, cfg.Kafka.Topics.Events, cfg.Kafka.Topics.SegmentChanges, cfg.Kafka.Topics.Snapshots, cfg.Kafka.Topics.DLQ},
		Tick:          cfg.Emit.Tick.String(),
	}
	for _, win := range src.Windows() {
		o.Windows = append(o.Windows, segment.FormatWindow(win))
	}
	if dm := d.opt.Demo; dm != nil {
		o.Mode = "demo"
		o.Notes = slices.Clone(dm.Notes)
		if dm.ShopClock != nil {
			o.ShopClock = dm.ShopClock()
		}
	}
	writeJSON(w, o)
}

func (d *Dashboard) figures(w http.ResponseWriter, r *http.Request) {
	win := d.opt.DefaultWindow
	if q := r.URL.Query().Get("window"); q != "" {
		v, err := time.ParseDuration(q)
		if err != nil || !slices.Contains(d.src.Windows(), v) {
			writeError(w, http.StatusBadRequest, "window: give one of the configured windows (aggregate.windows)")
			return
		}
		win = v
	}
	f, err := d.src.Figures(r.Context(), win)
	if err != nil {
		d.fail(w, "read persona figures", err)
		return
	}
	writeJSON(w, f)
}

func (d *Dashboard) stats(w http.ResponseWriter, r *http.Request) {
	st, err := d.src.Stats()
	if err != nil {
		d.fail(w, "read counters", err)
		return
	}
	out := struct {
		*Stats
		ShopClock string `json:"shop_clock,omitempty"`
	}{Stats: st}
	if dm := d.opt.Demo; dm != nil {
		if dm.Generated != nil {
			st.Generated = dm.Generated()
		}
		if dm.ShopClock != nil {
			out.ShopClock = dm.ShopClock()
		}
	}
	writeJSON(w, out)
}

func (d *Dashboard) changes(w http.ResponseWriter, r *http.Request) {
	n := 30
	if q := r.URL.Query().Get("limit"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > 500 {
			writeError(w, http.StatusBadRequest, "limit: give a number from 1 to 500")
			return
		}
		n = v
	}
	c, err := d.src.Changes(r.Context(), n)
	if err != nil {
		d.fail(w, "read segment changes", err)
		return
	}
	writeJSON(w, c)
}

func (d *Dashboard) sample(w http.ResponseWriter, r *http.Request) {
	// One sample at a time: it generates a few thousand events.
	d.sampleMu.Lock()
	if d.sampleBusy {
		d.sampleMu.Unlock()
		writeError(w, http.StatusTooManyRequests, "a sample is being made; try again in a moment")
		return
	}
	d.sampleBusy = true
	d.sampleMu.Unlock()
	defer func() {
		d.sampleMu.Lock()
		d.sampleBusy = false
		d.sampleMu.Unlock()
	}()
	// The first sample of a process also calibrates the generator (about a
	// second, more on a busy machine).
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	s, err := NewSample(ctx, app.IngestOptions(d.src.a.Cfg.Ingest), RandomSeed())
	if err != nil {
		d.fail(w, "make a synthetic sample", err)
		return
	}
	writeJSON(w, s)
}

// fail answers 503 with a message that names what failed; the error goes
// to the log. Errors of the Redis and Kafka adapters carry no payloads.
func (d *Dashboard) fail(w http.ResponseWriter, what string, err error) {
	d.log.Warn("dashboard: cannot "+what, zap.Error(err))
	writeError(w, http.StatusServiceUnavailable, "cannot "+what+": "+err.Error())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
