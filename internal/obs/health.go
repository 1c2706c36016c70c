package obs

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Health answers /healthz (the process runs) and /readyz (it can do its
// work: every dependency answers and no stage is stuck retrying).
type Health struct {
	mu       sync.Mutex
	checks   map[string]func(context.Context) error
	degraded map[string]string // component -> short reason (no details)
	last     map[string]error
	lastRun  time.Time
	metrics  *Metrics
	stopping bool
}

// NewHealth returns an empty health registry.
func NewHealth(m *Metrics) *Health {
	return &Health{checks: map[string]func(context.Context) error{}, degraded: map[string]string{}, last: map[string]error{}, metrics: m}
}

// AddCheck registers a dependency check (redis, kafka).
func (h *Health) AddCheck(name string, f func(context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = f
}

// Degraded marks a component as unable to make progress.
func (h *Health) Degraded(component, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.degraded[component] = reason
}

// Recovered clears a component's degraded mark.
func (h *Health) Recovered(component string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.degraded, component)
}

// Watch runs the checks every interval until ctx ends, so that the
// personas_dependency_up gauge is current for Prometheus even when nobody
// polls /readyz.
func (h *Health) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		h.Status(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Stopping makes /readyz fail during shutdown so load balancers drain.
func (h *Health) Stopping() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

// Status runs the checks (at most once a second) and reports readiness.
func (h *Health) Status(ctx context.Context) (ready bool, report map[string]string) {
	h.mu.Lock()
	run := time.Since(h.lastRun) > time.Second
	checks := make(map[string]func(context.Context) error, len(h.checks))
	for k, v := range h.checks {
		checks[k] = v
	}
	h.mu.Unlock()
	if run {
		results := map[string]error{}
		var wg sync.WaitGroup
		var rmu sync.Mutex
		for name, f := range checks {
			wg.Add(1)
			go func(name string, f func(context.Context) error) {
				defer wg.Done()
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				err := f(cctx)
				rmu.Lock()
				results[name] = err
				rmu.Unlock()
			}(name, f)
		}
		wg.Wait()
		h.mu.Lock()
		h.last = results
		h.lastRun = time.Now()
		h.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	report = map[string]string{}
	ready = !h.stopping
	if h.stopping {
		report["process"] = "shutting down"
	}
	for name, err := range h.last {
		up := 1.0
		if err != nil {
			ready = false
			up = 0
			report[name] = "unreachable"
		} else {
			report[name] = "ok"
		}
		if h.metrics != nil {
			h.metrics.DependencyUp.WithLabelValues(name).Set(up)
		}
	}
	for c, why := range h.degraded {
		ready = false
		report[c] = why
	}
	return ready, report
}

// Server is the HTTP server of the process.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Mux builds the handler: /healthz, /readyz, /metrics, /debug/pprof/ and
// any extra handlers (the dashboard).
func Mux(h *Health, m *Metrics, extra map[string]http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ready, report := h.Status(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		keys := make([]string, 0, len(report))
		for k := range report {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := struct {
			Ready  bool              `json:"ready"`
			Checks map[string]string `json:"checks"`
		}{ready, report}
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/heap", pprof.Index)
	for path, hd := range extra {
		mux.Handle(path, hd)
	}
	return mux
}

// Listen starts serving on addr; it returns the bound address (for ":0").
func Listen(addr string, handler http.Handler, log *zap.Logger) (*Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	s := &Server{srv: &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", zap.Error(err))
		}
	}()
	return s, ln.Addr().String(), nil
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
