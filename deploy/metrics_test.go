package deploy_test

// The catalogue of metrics the code defines, and a small PromQL reader that
// finds the metric names, label matchers and grouping labels an expression
// uses, so alerts and panels can be checked against that catalogue. The
// reader is deliberately small: it avoids a dependency on the Prometheus
// server module (not in go.mod); full PromQL syntax is promtool's job
// (promtool check rules deploy/prometheus/alerts.yml, run by hand).

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/personas-dev/personas/internal/obs"
)

// ---------------------------------------------------------------------------
// Metrics defined by the code

type metricInfo struct {
	labels map[string]bool
	kind   string // counter, gauge, histogram, summary
}

var (
	knownOnce sync.Once
	known     map[string]metricInfo
	knownErr  error
)

// definedMetrics reads internal/obs/metrics.go for every
// Name: "personas_..." with its constructor and label names, cross-checks
// that list against the collectors obs.NewMetrics really registers, and adds
// the Go and process collectors' metrics as a live registry exports them.
func definedMetrics(t *testing.T) map[string]metricInfo {
	t.Helper()
	knownOnce.Do(func() { known, knownErr = buildKnown() })
	if knownErr != nil {
		t.Fatal(knownErr)
	}
	return known
}

var (
	ctorRE  = regexp.MustCompile(`prometheus\.New(Counter|Gauge|Histogram|Summary)(Vec|Func)?\(`)
	nameRE  = regexp.MustCompile(`Name:\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"`)
	labelRE = regexp.MustCompile(`\[\]string\{([^}]*)\}`)
	quoteRE = regexp.MustCompile(`"([^"]*)"`)
)

func buildKnown() (map[string]metricInfo, error) {
	src, err := os.ReadFile(repoPath("internal/obs/metrics.go"))
	if err != nil {
		return nil, err
	}
	out := map[string]metricInfo{}
	locs := ctorRE.FindAllSubmatchIndex(src, -1)
	for i, loc := range locs {
		end := len(src)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		def := src[loc[0]:end]
		kind := strings.ToLower(string(src[loc[2]:loc[3]]))
		vec := loc[4] >= 0 && string(src[loc[4]:loc[5]]) == "Vec"
		nm := nameRE.FindSubmatch(def)
		if nm == nil {
			return nil, fmt.Errorf("metrics.go: a prometheus.New%s call without a Name: literal; extend this parser", kind)
		}
		mi := metricInfo{labels: map[string]bool{}, kind: kind}
		if vec {
			lm := labelRE.FindSubmatch(def)
			if lm == nil {
				return nil, fmt.Errorf("metrics.go: cannot find the label names of %s", nm[1])
			}
			for _, q := range quoteRE.FindAllSubmatch(lm[1], -1) {
				mi.labels[string(q[1])] = true
			}
		}
		out[string(nm[1])] = mi
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no metrics found in internal/obs/metrics.go")
	}

	// Cross-check with what the code registers, so the parser above cannot
	// silently miss a metric or invent one.
	m := obs.NewMetrics()
	m.CacheStats(func() float64 { return 0 }, func() float64 { return 0 }, func() float64 { return 0 })
	registered := map[string]bool{}
	fqRE := regexp.MustCompile(`fqName: "([^"]+)"`)
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok || v.Field(i).IsNil() || v.Type().Field(i).Name == "Registry" {
			continue
		}
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			if f := fqRE.FindStringSubmatch(d.String()); f != nil {
				registered[f[1]] = true
			}
		}
	}
	for name := range out {
		if !registered[name] {
			return nil, fmt.Errorf("metrics.go parser found %s, but obs.Metrics does not register it", name)
		}
	}
	for name := range registered {
		if _, ok := out[name]; !ok {
			return nil, fmt.Errorf("obs.Metrics registers %s, which the metrics.go parser missed", name)
		}
	}

	// The standard collectors (Go runtime, process) as this platform exports them.
	mfs, err := m.Registry.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if strings.HasPrefix(name, "personas_") {
			continue
		}
		mi := metricInfo{labels: map[string]bool{}, kind: strings.ToLower(mf.GetType().String())}
		for _, mm := range mf.GetMetric() {
			for _, lp := range mm.GetLabel() {
				mi.labels[lp.GetName()] = true
			}
		}
		out[name] = mi
	}
	// Series that Prometheus itself (up) and the blackbox exporter (probe_*)
	// create for a target, used by the readiness alerts and panels.
	for _, name := range []string{"up", "probe_success", "probe_duration_seconds", "probe_http_status_code"} {
		out[name] = metricInfo{labels: map[string]bool{}, kind: "gauge"}
	}
	return out, nil
}

// lookup resolves a series name, including a histogram's or summary's
// _bucket/_sum/_count series, to its labels.
func lookup(known map[string]metricInfo, name string) (map[string]bool, bool) {
	if mi, ok := known[name]; ok {
		return mi.labels, true
	}
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		mi, ok := known[base]
		switch {
		case !ok, mi.kind != "histogram" && mi.kind != "summary":
			continue
		case suf == "_bucket" && mi.kind != "histogram":
			continue // summaries have quantiles, not buckets
		}
		labels := map[string]bool{}
		for l := range mi.labels {
			labels[l] = true
		}
		if suf == "_bucket" {
			labels["le"] = true
		}
		return labels, true
	}
	return nil, false
}

// ---------------------------------------------------------------------------
// A small PromQL reader: enough to find metric names, label matchers and
// grouping labels, without a dependency on the Prometheus server module.

type promqlRefs struct {
	metrics  []string
	matchers map[string][]string // metric -> label names it filters on
	jobs     []string            // values of job="..." matchers
	grouping []string            // labels in by/without/on/ignoring/group_x
}

var promqlAggregations = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
	"bottomk", "topk", "quantile", "limitk", "limit_ratio")

var promqlFunctions = set("abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
	"day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
	"histogram_avg", "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev",
	"histogram_stdvar", "histogram_sum", "hour", "idelta", "increase", "irate", "label_join", "label_replace",
	"ln", "log10", "log2", "minute", "month", "predict_linear", "rate", "resets", "round", "scalar", "sgn",
	"sort", "sort_desc", "sqrt", "time", "timestamp", "vector", "year", "avg_over_time", "min_over_time",
	"max_over_time", "sum_over_time", "count_over_time", "quantile_over_time", "stddev_over_time",
	"stdvar_over_time", "last_over_time", "present_over_time", "mad_over_time")

var promqlKeywords = set("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan")

var promqlGrouping = set("by", "without", "on", "ignoring", "group_left", "group_right")

func set(s ...string) map[string]bool {
	m := map[string]bool{}
	for _, e := range s {
		m[e] = true
	}
	return m
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }

var matcherRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)

func parsePromQL(expr string) (promqlRefs, error) {
	r := promqlRefs{matchers: map[string][]string{}}
	depth := 0
	lastMetric := ""
	skipSpace := func(i int) int {
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case strings.ContainsRune(" \t\r\n", rune(c)):
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && c != '`' {
					j++
				}
				j++
			}
			if j >= len(expr) {
				return r, fmt.Errorf("unterminated string at %d", i)
			}
			i = j + 1
			lastMetric = ""
		case c == '[':
			j := strings.IndexByte(expr[i:], ']')
			if j < 0 {
				return r, fmt.Errorf("unterminated [ at %d", i)
			}
			i += j + 1
		case c == '{':
			j := strings.IndexByte(expr[i:], '}')
			if j < 0 {
				return r, fmt.Errorf("unterminated { at %d", i)
			}
			body := expr[i+1 : i+j]
			if strings.Trim(matcherRE.ReplaceAllString(body, ""), " ,\t\n") != "" {
				return r, fmt.Errorf("cannot read label matchers {%s}", body)
			}
			for _, m := range matcherRE.FindAllStringSubmatch(body, -1) {
				if m[1] == "__name__" && m[2] == "=" {
					r.metrics = append(r.metrics, m[3])
					continue
				}
				if m[1] == "job" && m[2] == "=" {
					r.jobs = append(r.jobs, m[3])
				}
				if lastMetric == "" {
					return r, fmt.Errorf("label matchers {%s} without a metric name", body)
				}
				r.matchers[lastMetric] = append(r.matchers[lastMetric], m[1])
			}
			i += j + 1
			lastMetric = ""
		case c >= '0' && c <= '9' || (c == '.' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9'):
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
			lastMetric = ""
		case isIdentStart(c):
			j := i
			for j < len(expr) && isIdent(expr[j]) {
				j++
			}
			word := expr[i:j]
			lower := strings.ToLower(word)
			next := skipSpace(j)
			lastMetric = ""
			switch {
			case promqlGrouping[lower]:
				if next < len(expr) && expr[next] == '(' {
					k := strings.IndexByte(expr[next:], ')')
					if k < 0 {
						return r, fmt.Errorf("unterminated %s( at %d", word, i)
					}
					for _, l := range strings.Split(expr[next+1:next+k], ",") {
						if l = strings.TrimSpace(l); l != "" {
							r.grouping = append(r.grouping, l)
						}
					}
					j = next + k + 1
				}
			case promqlKeywords[lower]:
			case promqlAggregations[word]:
			case next < len(expr) && expr[next] == '(':
				if !promqlFunctions[word] {
					return r, fmt.Errorf("unknown function %s()", word)
				}
			default:
				r.metrics = append(r.metrics, word)
				lastMetric = word
			}
			i = j
		case c == '(':
			depth++
			i++
			lastMetric = ""
		case c == ')':
			depth--
			if depth < 0 {
				return r, fmt.Errorf("unbalanced ) at %d", i)
			}
			i++
		default:
			i++
			lastMetric = ""
		}
	}
	if depth != 0 {
		return r, fmt.Errorf("unbalanced parentheses")
	}
	if len(r.metrics) == 0 {
		return r, fmt.Errorf("no metric in expression")
	}
	return r, nil
}

// checkExpr checks one PromQL expression against the defined metrics and
// the Prometheus jobs, and returns the labels its result may carry (for
// legends and alert templates).
func checkExpr(t *testing.T, where, expr string, jobs map[string]bool) map[string]bool {
	t.Helper()
	known := definedMetrics(t)
	refs, err := parsePromQL(expr)
	if err != nil {
		t.Errorf("%s: %v in %q", where, err, expr)
		return nil
	}
	// job and instance are added to every series by the scrape.
	avail := map[string]bool{"job": true, "instance": true}
	for _, name := range refs.metrics {
		labels, ok := lookup(known, name)
		if !ok {
			t.Errorf("%s: metric %s is not defined in internal/obs/metrics.go (nor a standard go_/process_ metric)", where, name)
			continue
		}
		for l := range labels {
			avail[l] = true
		}
		for _, l := range refs.matchers[name] {
			if !labels[l] && l != "job" && l != "instance" {
				t.Errorf("%s: %s has no label %q (labels: %v)", where, name, l, sortedKeys(labels))
			}
		}
	}
	for _, l := range refs.grouping {
		if !avail[l] {
			t.Errorf("%s: groups by %q, which none of %v carries", where, l, refs.metrics)
		}
	}
	for _, j := range refs.jobs {
		if !jobs[j] {
			t.Errorf("%s: job=%q is not a job in deploy/prometheus/prometheus.yml", where, j)
		}
	}
	return avail
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestPromQLReader(t *testing.T) {
	// The reader must find what the other tests rely on.
	r, err := parsePromQL(`sum by (stage, le) (rate(personas_batch_duration_seconds_bucket{stage="ingest"}[$__rate_interval])) / on (stage) group_left max(up{job="personas"}) > 0.5 unless absent(foo)`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.metrics, []string{"personas_batch_duration_seconds_bucket", "up", "foo"}) {
		t.Errorf("metrics = %v", r.metrics)
	}
	if !slices.Equal(r.grouping, []string{"stage", "le", "stage"}) || !slices.Equal(r.jobs, []string{"personas"}) {
		t.Errorf("grouping = %v, jobs = %v", r.grouping, r.jobs)
	}
	if !slices.Equal(r.matchers["personas_batch_duration_seconds_bucket"], []string{"stage"}) {
		t.Errorf("matchers = %v", r.matchers)
	}
	for _, bad := range []string{`rat(x[5m])`, `sum(x`, `x{a=b}`, `1 + 2`} {
		if _, err := parsePromQL(bad); err == nil {
			t.Errorf("parsePromQL(%q) should fail", bad)
		}
	}
	known := definedMetrics(t)
	for _, name := range []string{"personas_events_in_total", "personas_batch_size_bucket", "personas_visitor_cache_entries",
		"process_start_time_seconds", "process_cpu_seconds_total", "process_resident_memory_bytes", "go_goroutines"} {
		if _, ok := lookup(known, name); !ok {
			t.Errorf("%s should be known", name)
		}
	}
	if _, ok := lookup(known, "personas_events_in_total_bucket"); ok {
		t.Error("a counter has no _bucket series")
	}
}
