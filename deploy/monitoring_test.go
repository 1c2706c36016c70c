package deploy_test

// Checks of the Prometheus configuration, the alert rules, and the Grafana
// provisioning and dashboard.

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// ---------------------------------------------------------------------------
// Prometheus

type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
	} `yaml:"global"`
	RuleFiles     []string `yaml:"rule_files"`
	ScrapeConfigs []struct {
		JobName       string              `yaml:"job_name"`
		MetricsPath   string              `yaml:"metrics_path"`
		Params        map[string][]string `yaml:"params"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		RelabelConfigs []struct {
			TargetLabel string `yaml:"target_label"`
			Replacement string `yaml:"replacement"`
		} `yaml:"relabel_configs"`
	} `yaml:"scrape_configs"`
}

func loadPrometheus(t *testing.T) (promConfig, map[string]bool) {
	t.Helper()
	var p promConfig
	readYAML(t, "deploy/prometheus/prometheus.yml", &p)
	jobs := map[string]bool{}
	for _, sc := range p.ScrapeConfigs {
		jobs[sc.JobName] = true
	}
	return p, jobs
}

// hostFile maps a path inside a compose service's container back to the
// repository file mounted there ("" when none is).
func hostFile(t *testing.T, c composeFile, service, inContainer string) string {
	t.Helper()
	for target, src := range mounts(t, c.service(t, service)) {
		if !strings.HasPrefix(src, "./") {
			continue
		}
		if inContainer == target {
			return strings.TrimPrefix(src, "./")
		}
		if rest, ok := strings.CutPrefix(inContainer, target+"/"); ok {
			return path.Join(strings.TrimPrefix(src, "./"), rest)
		}
	}
	return ""
}

func TestPrometheusConfig(t *testing.T) {
	c := loadCompose(t)
	p, _ := loadPrometheus(t)
	cmd := strings.Join(strList(c.service(t, "prometheus")["command"]), " ")
	if !strings.Contains(cmd, "--config.file=/etc/prometheus/prometheus.yml") ||
		hostFile(t, c, "prometheus", "/etc/prometheus/prometheus.yml") != "deploy/prometheus/prometheus.yml" {
		t.Error("the prometheus service must load deploy/prometheus/prometheus.yml")
	}
	if len(p.RuleFiles) == 0 {
		t.Error("prometheus.yml loads no rule files")
	}
	for _, rf := range p.RuleFiles {
		if hostFile(t, c, "prometheus", rf) != "deploy/prometheus/alerts.yml" {
			t.Errorf("rule file %s is not deploy/prometheus/alerts.yml as mounted in the prometheus service", rf)
		}
	}
	_, port, _ := strings.Cut(environment(t, c.service(t, "personas"))["PERSONAS_HTTP_LISTEN"], ":")
	var scraped, probed bool
	for _, sc := range p.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				switch {
				case sc.JobName == "personas":
					scraped = scraped || target == "personas:"+port && (sc.MetricsPath == "" || sc.MetricsPath == "/metrics")
				case strings.HasSuffix(target, "/readyz"):
					probed = probed || target == "http://personas:"+port+"/readyz"
					var exporter string
					for _, rc := range sc.RelabelConfigs {
						if rc.TargetLabel == "__address__" {
							exporter = rc.Replacement
						}
					}
					host, _, _ := strings.Cut(exporter, ":")
					if _, ok := c.Services[host]; !ok || sc.MetricsPath != "/probe" {
						t.Errorf("job %s: probes through %q, which is not a compose service, or not on /probe", sc.JobName, exporter)
					}
					var bb struct {
						Modules map[string]any `yaml:"modules"`
					}
					readYAML(t, hostFile(t, c, host, "/etc/blackbox_exporter/blackbox.yml"), &bb)
					for _, mod := range sc.Params["module"] {
						if bb.Modules[mod] == nil {
							t.Errorf("job %s uses blackbox module %q, which deploy/prometheus/blackbox.yml lacks", sc.JobName, mod)
						}
					}
				}
			}
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml must scrape job personas at personas:%s/metrics", port)
	}
	if !probed {
		t.Errorf("prometheus.yml must probe http://personas:%s/readyz", port)
	}
}

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	promDurationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	templateVarRE  = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

func TestAlertRules(t *testing.T) {
	var rf ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(readFile(t, "deploy/prometheus/alerts.yml"))))
	dec.KnownFields(true) // a misspelt key (anotations:) must not vanish silently
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	_, jobs := loadPrometheus(t)
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("rule group %q is unnamed or empty", g.Name)
		}
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if r.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (recording rules belong elsewhere)", g.Name)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if r.For != "" && !promDurationRE.MatchString(r.For) {
				t.Errorf("%s: for %q is not a Prometheus duration", where, r.For)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			for _, a := range []string{"summary", "description"} {
				if len(strings.TrimSpace(r.Annotations[a])) < 20 {
					t.Errorf("%s: annotation %s is missing or too short to help", where, a)
				}
			}
			avail := checkExpr(t, where, r.Expr, jobs)
			for _, a := range r.Annotations {
				for _, m := range templateVarRE.FindAllStringSubmatch(a, -1) {
					if avail != nil && !avail[m[1]] {
						t.Errorf("%s: annotation uses $labels.%s, which its series do not carry", where, m[1])
					}
				}
				if strings.Count(a, "{{") != strings.Count(a, "}}") {
					t.Errorf("%s: unbalanced {{ }} in an annotation", where)
				}
			}
		}
	}
	for _, want := range []string{"PersonasNotReady", "ConsumerLagGrowing", "DLQRateHigh", "RetriesHigh",
		"NoEmitLeader", "BatchLatencyHigh", "ProcessRestarting", "SuppressedFiguresHigh"} {
		if !seen[want] {
			t.Errorf("alerts.yml lacks alert %s", want)
		}
	}
}

// ---------------------------------------------------------------------------
// Grafana

type grafanaDatasources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name string `yaml:"name"`
		UID  string `yaml:"uid"`
		Type string `yaml:"type"`
		URL  string `yaml:"url"`
	} `yaml:"datasources"`
}

type grafanaProviders struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name    string `yaml:"name"`
		Type    string `yaml:"type"`
		Options struct {
			Path string `yaml:"path"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

type panel struct {
	ID          int                      `json:"id"`
	Type        string                   `json:"type"`
	Title       string                   `json:"title"`
	Description string                   `json:"description"`
	Datasource  *datasourceRef           `json:"datasource"`
	GridPos     struct{ H, W, X, Y int } `json:"gridPos"`
	Targets     []struct {
		RefID        string         `json:"refId"`
		Expr         string         `json:"expr"`
		LegendFormat string         `json:"legendFormat"`
		Datasource   *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

var legendRE = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// provisionedDatasource returns the uid of the provisioned Prometheus
// datasource, after checking it points at the compose service.
func provisionedDatasource(t *testing.T, c composeFile) string {
	t.Helper()
	var ds grafanaDatasources
	readYAML(t, hostFile(t, c, "grafana", "/etc/grafana/provisioning/datasources/prometheus.yml"), &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 {
		t.Fatalf("want apiVersion 1 and exactly one datasource, got %+v", ds)
	}
	d := ds.Datasources[0]
	if d.Type != "prometheus" || d.UID == "" || d.URL != "http://prometheus:9090" {
		t.Errorf("datasource %+v: want type prometheus, a fixed uid and url http://prometheus:9090", d)
	}
	if _, ok := c.Services["prometheus"]; !ok {
		t.Error("the datasource points at a prometheus service that compose does not run")
	}
	return d.UID
}

func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	provisionedDatasource(t, c)
	var pv grafanaProviders
	readYAML(t, hostFile(t, c, "grafana", "/etc/grafana/provisioning/dashboards/personas.yml"), &pv)
	if pv.APIVersion != 1 || len(pv.Providers) == 0 {
		t.Fatalf("dashboard provisioning: want apiVersion 1 with providers, got %+v", pv)
	}
	for _, p := range pv.Providers {
		dir := hostFile(t, c, "grafana", p.Options.Path)
		if p.Type != "file" || dir != "deploy/grafana/dashboards" {
			t.Errorf("provider %s reads %q (repository %q), want deploy/grafana/dashboards", p.Name, p.Options.Path, dir)
		}
	}
	home := environment(t, c.service(t, "grafana"))["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if home != "" {
		if f := hostFile(t, c, "grafana", home); f != "deploy/grafana/dashboards/personas.json" {
			t.Errorf("home dashboard %s is not deploy/grafana/dashboards/personas.json", home)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	c := loadCompose(t)
	uid := provisionedDatasource(t, c)
	_, jobs := loadPrometheus(t)
	raw := readFile(t, "deploy/grafana/dashboards/personas.json")
	if strings.Contains(string(raw), "${DS_") {
		t.Error("the dashboard has import placeholders (${DS_...}); provisioning needs the datasource uid")
	}
	var d struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("personas.json: %v", err)
	}
	if d.SchemaVersion < 38 || d.UID == "" || d.Title == "" {
		t.Errorf("dashboard: schemaVersion %d (want >= 38), uid %q, title %q", d.SchemaVersion, d.UID, d.Title)
	}
	var all []panel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...) // a collapsed row nests its panels
	}
	ids := map[int]bool{}
	var rows []string
	exprs := 0
	for _, p := range all {
		if ids[p.ID] || p.ID == 0 {
			t.Errorf("panel %q: id %d is missing or not unique", p.Title, p.ID)
		}
		ids[p.ID] = true
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v does not fit the 24-column grid", p.Title, g)
		}
		if p.Type == "row" {
			rows = append(rows, p.Title)
			continue
		}
		where := fmt.Sprintf("panel %q", p.Title)
		if strings.TrimSpace(p.Title) == "" || len(strings.TrimSpace(p.Description)) < 20 {
			t.Errorf("%s: every panel needs a title and a description an SRE can act on", where)
		}
		if p.Datasource == nil || p.Datasource.UID != uid {
			t.Errorf("%s: datasource %+v, want uid %q from provisioning", where, p.Datasource, uid)
		}
		if len(p.Targets) == 0 {
			t.Errorf("%s: no queries", where)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q missing or repeated", where, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource != nil && tg.Datasource.UID != uid {
				t.Errorf("%s: query datasource uid %q, want %q", where, tg.Datasource.UID, uid)
			}
			exprs++
			avail := checkExpr(t, where, tg.Expr, jobs)
			for _, m := range legendRE.FindAllStringSubmatch(tg.LegendFormat, -1) {
				if avail != nil && !avail[m[1]] {
					t.Errorf("%s: legend uses {{%s}}, which its series do not carry", where, m[1])
				}
			}
		}
	}
	for _, want := range []string{"Throughput", "Health", "Kafka", "Redis", "Privacy", "Segments"} {
		if !slices.Contains(rows, want) {
			t.Errorf("dashboard lacks a %q row (rows: %v)", want, rows)
		}
	}
	if exprs < 20 {
		t.Errorf("only %d queries: the dashboard looks truncated", exprs)
	}
}

// TestEveryMetricIsShown lists metrics defined in the code that neither an
// alert nor a panel uses: not an error (some are for ad-hoc queries), but a
// new metric should usually get a panel.
func TestEveryMetricIsShown(t *testing.T) {
	used := map[string]bool{}
	for _, f := range []string{"deploy/prometheus/alerts.yml", "deploy/grafana/dashboards/personas.json"} {
		for _, m := range regexp.MustCompile(`personas_[a-z0-9_]+`).FindAllString(string(readFile(t, f)), -1) {
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				m = strings.TrimSuffix(m, suf)
			}
			used[m] = true
		}
	}
	for name := range definedMetrics(t) {
		if strings.HasPrefix(name, "personas_") && !used[name] {
			t.Logf("metric %s is neither on the dashboard nor in an alert", name)
		}
	}
}
