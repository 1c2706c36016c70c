// Package deploy_test checks the deployment files: the Dockerfile,
// .dockerignore, docker-compose.yml, the Prometheus configuration and alert
// rules, and the Grafana provisioning and dashboard.
//
// Nothing on the development machines can run Docker, so these tests are
// what keeps the files honest. Above all they tie the files to the code:
// every metric an alert or a panel uses must be defined in
// internal/obs/metrics.go (with the labels it filters or groups by), the
// personas environment in docker-compose.yml must load through
// internal/config without error or warning, and the topics it creates are
// the configured defaults. Rename a metric, a label, a setting or a topic and
// a test here fails, instead of a dashboard going blank in production.
package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/personas-dev/personas/internal/config"
)

// root is the repository root, relative to this package's directory (where
// go test runs).
const root = ".."

func repoPath(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(repoPath(p))
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return b
}

func readYAML(t *testing.T, p string, v any) {
	t.Helper()
	if err := yaml.Unmarshal(readFile(t, p), v); err != nil {
		t.Fatalf("parse %s: %v", p, err)
	}
}

// ---------------------------------------------------------------------------
// docker-compose.yml

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]map[string]any `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, "docker-compose.yml", &c)
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	return c
}

func (c composeFile) service(t *testing.T, name string) map[string]any {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q", name)
	}
	return s
}

// str returns a string field ("" when absent or not a string).
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// strList reads a field that is a list of scalars (or one string).
func strList(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// environment reads a service's environment, map or KEY=VALUE list form.
func environment(t *testing.T, s map[string]any) map[string]string {
	t.Helper()
	env := map[string]string{}
	switch v := s["environment"].(type) {
	case nil:
	case map[string]any:
		for k, val := range v {
			if val == nil {
				t.Errorf("environment %s has no value: compose would pass the host's value through", k)
				continue
			}
			env[k] = fmt.Sprint(val)
		}
	case []any:
		for _, e := range v {
			k, val, _ := strings.Cut(fmt.Sprint(e), "=")
			env[k] = val
		}
	default:
		t.Fatalf("environment has an unexpected form %T", v)
	}
	return env
}

// dependsOn reads depends_on (list or map form) as service -> condition.
func dependsOn(t *testing.T, s map[string]any) map[string]string {
	t.Helper()
	deps := map[string]string{}
	switch v := s["depends_on"].(type) {
	case nil:
	case []any:
		for _, d := range v {
			deps[fmt.Sprint(d)] = "service_started"
		}
	case map[string]any:
		for name, spec := range v {
			cond := "service_started"
			if m, ok := spec.(map[string]any); ok && m["condition"] != nil {
				cond = fmt.Sprint(m["condition"])
			}
			deps[name] = cond
		}
	default:
		t.Fatalf("depends_on has an unexpected form %T", v)
	}
	return deps
}

// healthcheck returns a service's healthcheck test as one string.
func healthcheck(s map[string]any) string {
	hc, _ := s["healthcheck"].(map[string]any)
	return strings.Join(strList(hc["test"]), " ")
}

// mounts reads a service's volumes as container path -> source (a named
// volume, or a ./ path relative to the repository root).
func mounts(t *testing.T, s map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range strList(s["volumes"]) {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Errorf("volume %q: want source:target[:mode]", v)
			continue
		}
		out[parts[1]] = parts[0]
	}
	return out
}

// composeServiceKeys are the service attributes of the Compose
// specification this file may use. Docker Compose rejects unknown keys, but
// nothing here can run it, so a typo (depends_no:) would go unnoticed.
var composeServiceKeys = map[string]bool{
	"build": true, "cap_add": true, "cap_drop": true, "command": true, "container_name": true,
	"cpus": true, "depends_on": true, "deploy": true, "entrypoint": true, "env_file": true,
	"environment": true, "expose": true, "healthcheck": true, "hostname": true, "image": true,
	"init": true, "labels": true, "logging": true, "mem_limit": true, "networks": true,
	"platform": true, "ports": true, "profiles": true, "pull_policy": true, "read_only": true,
	"restart": true, "security_opt": true, "stop_grace_period": true, "stop_signal": true,
	"tmpfs": true, "ulimits": true, "user": true, "volumes": true, "working_dir": true,
}

func TestComposeServicesAndImages(t *testing.T) {
	c := loadCompose(t)
	// Images the brief pins (exact), and the version lines the others must
	// stay on (see the comments in docker-compose.yml for why).
	want := map[string]func(string) bool{
		"kafka":      func(s string) bool { return s == "apache/kafka:4.1.1" },
		"topics":     func(s string) bool { return s == "apache/kafka:4.1.1" },
		"redis":      func(s string) bool { return s == "redis:7" || strings.HasPrefix(s, "redis:7.") },
		"prometheus": func(s string) bool { return strings.HasPrefix(s, "prom/prometheus:v3.") },
		"blackbox":   func(s string) bool { return strings.HasPrefix(s, "prom/blackbox-exporter:v0.") },
		"grafana":    func(s string) bool { return strings.HasPrefix(s, "grafana/grafana:12.") },
		"personas":   nil, // built from the Dockerfile
		"generator":  nil,
	}
	for name, ok := range want {
		s := c.service(t, name)
		img := str(s, "image")
		if ok != nil && !ok(img) {
			t.Errorf("service %s: image %q is not the pinned version", name, img)
		}
	}
	for name, s := range c.Services {
		for k := range s {
			if !composeServiceKeys[k] {
				t.Errorf("service %s: unknown or unexpected key %q", name, k)
			}
		}
		img := str(s, "image")
		if s["build"] != nil {
			continue
		}
		if _, tag, ok := strings.Cut(img, ":"); !ok || tag == "" || tag == "latest" {
			t.Errorf("service %s: image %q must name a fixed tag", name, img)
		}
	}
	for _, name := range []string{"personas", "generator"} {
		s := c.service(t, name)
		b, ok := s["build"].(map[string]any)
		if !ok || str(b, "context") != "." {
			t.Errorf("service %s: want build.context . (the Dockerfile at the repository root), got %v", name, s["build"])
		}
		if df := str(b, "dockerfile"); df != "" && df != "Dockerfile" {
			t.Errorf("service %s: builds %s, want the Dockerfile", name, df)
		}
	}
	// Both must run the same build: the generator reuses the personas image.
	if a, b := str(c.service(t, "personas"), "image"), str(c.service(t, "generator"), "image"); a != b {
		t.Errorf("personas builds image %q but generator uses %q", a, b)
	}
}

func TestComposeDependencies(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for dep, cond := range dependsOn(t, s) {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on %q, which does not exist", name, dep)
				continue
			}
			switch cond {
			case "service_started":
			case "service_healthy":
				if target["healthcheck"] == nil {
					t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
				}
			case "service_completed_successfully":
				if r := str(target, "restart"); r != "no" {
					t.Errorf("service %s waits for %s to complete, but %s has restart %q (want \"no\")", name, dep, dep, r)
				}
			default:
				t.Errorf("service %s: depends_on %s has unknown condition %q", name, dep, cond)
			}
			// A profile-only service must not be needed by one that always runs.
			if len(strList(target["profiles"])) > 0 && len(strList(s["profiles"])) == 0 {
				t.Errorf("service %s depends on %s, which only runs with a profile", name, dep)
			}
		}
	}
	wantDeps := map[string]map[string]string{
		"topics":    {"kafka": "service_healthy"},
		"personas":  {"kafka": "service_healthy", "redis": "service_healthy", "topics": "service_completed_successfully"},
		"generator": {"kafka": "service_healthy", "topics": "service_completed_successfully"},
	}
	for name, want := range wantDeps {
		got := dependsOn(t, c.service(t, name))
		for dep, cond := range want {
			if got[dep] != cond {
				t.Errorf("service %s: depends_on %s is %q, want %q", name, dep, got[dep], cond)
			}
		}
	}
	if hc := healthcheck(c.service(t, "kafka")); !strings.Contains(hc, "kafka-broker-api-versions.sh") && !strings.Contains(hc, "kafka-topics.sh") {
		t.Errorf("kafka healthcheck %q should ask the broker (kafka-broker-api-versions.sh or kafka-topics.sh)", hc)
	}
	if hc := healthcheck(c.service(t, "redis")); !strings.Contains(hc, "redis-cli ping") {
		t.Errorf("redis healthcheck %q should run redis-cli ping", hc)
	}
	if p := strList(c.service(t, "generator")["profiles"]); !slices.Equal(p, []string{"demo"}) {
		t.Errorf("generator profiles = %v, want [demo] (it must not run by default)", p)
	}
}

var portRE = regexp.MustCompile(`^127\.0\.0\.1:(\d+):(\d+)(/tcp)?$`)

func TestComposePortsOnLoopbackOnly(t *testing.T) {
	c := loadCompose(t)
	hostPorts := map[string]string{}
	for name, s := range c.Services {
		ports, _ := s["ports"].([]any)
		for _, p := range ports {
			var spec string
			switch p := p.(type) {
			case string:
				spec = p
			case map[string]any: // long syntax
				spec = fmt.Sprintf("%v:%v:%v", p["host_ip"], p["published"], p["target"])
			default:
				spec = fmt.Sprint(p)
			}
			m := portRE.FindStringSubmatch(spec)
			if m == nil {
				t.Errorf("service %s publishes %q: want 127.0.0.1:HOST:CONTAINER, never all interfaces", name, spec)
				continue
			}
			if other, dup := hostPorts[m[1]]; dup {
				t.Errorf("host port %s is published by both %s and %s", m[1], other, name)
			}
			hostPorts[m[1]] = name
		}
	}
	if len(hostPorts) == 0 {
		t.Error("no ports published at all")
	}
}

func TestComposeNoAccidentalInterpolation(t *testing.T) {
	// Compose replaces $name and ${name} in the whole file from the host
	// environment; a shell variable in a command must be written $$name.
	// Deliberate ${VAR:-default} settings are fine.
	varRE := regexp.MustCompile(`^\$\{[A-Z][A-Z0-9_]*(:?-[^}]*)?\}`)
	b := readFile(t, "docker-compose.yml")
	for i, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for j := 0; j < len(line); j++ {
			if line[j] != '$' {
				continue
			}
			switch {
			case j+1 < len(line) && line[j+1] == '$':
				j++
			case j+1 < len(line) && line[j+1] == '{':
				if !varRE.MatchString(line[j:]) {
					t.Errorf("docker-compose.yml:%d: %q is not a ${UPPER_CASE:-default} variable; write $$ for a literal $", i+1, line[j:])
				}
			default:
				t.Errorf("docker-compose.yml:%d: lone $ in %q: compose would substitute it; write $$", i+1, strings.TrimSpace(line))
			}
		}
	}
}

func TestComposeVolumes(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for target, src := range mounts(t, s) {
			if strings.HasPrefix(src, "./") || strings.HasPrefix(src, "../") {
				if _, err := os.Stat(repoPath(src)); err != nil {
					t.Errorf("service %s mounts %s at %s, which does not exist in the repository", name, src, target)
				}
				continue
			}
			if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s mounts volume %q, which is not declared under volumes:", name, src)
			}
		}
	}
	// State that must survive `docker compose down` / up.
	for name, target := range map[string]string{"kafka": "/var/lib/kafka/data", "redis": "/data"} {
		if src := mounts(t, c.service(t, name))[target]; src == "" || strings.HasPrefix(src, ".") {
			t.Errorf("service %s must keep %s on a named volume (got %q)", name, target, src)
		}
	}
	if got := environment(t, c.service(t, "kafka"))["KAFKA_LOG_DIRS"]; got != "/var/lib/kafka/data" {
		t.Errorf("KAFKA_LOG_DIRS = %q: the broker must write into its volume /var/lib/kafka/data", got)
	}
}

func TestComposeRedisDurable(t *testing.T) {
	c := loadCompose(t)
	cmd := strings.Join(strList(c.service(t, "redis")["command"]), " ")
	for _, want := range []string{"redis-server", "--appendonly yes", "--appendfsync everysec"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %q: the exactly-once state lives in Redis and must survive restarts", cmd, want)
		}
	}
	if strings.Contains(cmd, "--maxmemory-policy") && !strings.Contains(cmd, "--maxmemory-policy noeviction") {
		t.Errorf("redis command %q: an eviction policy other than noeviction would drop exactly-once state", cmd)
	}
}

func TestComposeKafka(t *testing.T) {
	c := loadCompose(t)
	env := environment(t, c.service(t, "kafka"))
	for k, want := range map[string]string{
		"KAFKA_NODE_ID":                                  "1",
		"KAFKA_PROCESS_ROLES":                            "broker,controller",
		"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@kafka:9093",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
		"KAFKA_MIN_INSYNC_REPLICAS":                      "1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
	} {
		if env[k] != want {
			t.Errorf("kafka %s = %q, want %q", k, env[k], want)
		}
	}
	if env["CLUSTER_ID"] == "" {
		t.Error("kafka needs a fixed CLUSTER_ID (the image requires one in KRaft mode)")
	}
	listeners := listenerMap(env["KAFKA_LISTENERS"])
	advertised := listenerMap(env["KAFKA_ADVERTISED_LISTENERS"])
	protocols := map[string]string{}
	for _, p := range strings.Split(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ",") {
		name, proto, _ := strings.Cut(p, ":")
		protocols[name] = proto
	}
	for name := range listeners {
		if protocols[name] == "" {
			t.Errorf("listener %s has no entry in KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", name)
		}
	}
	for name := range advertised {
		if _, ok := listeners[name]; !ok {
			t.Errorf("advertised listener %s is not in KAFKA_LISTENERS", name)
		}
	}
	ctl := env["KAFKA_CONTROLLER_LISTENER_NAMES"]
	if _, ok := listeners[ctl]; !ok {
		t.Errorf("controller listener %q is not in KAFKA_LISTENERS", ctl)
	}
	if _, ok := advertised[ctl]; ok {
		t.Errorf("the controller listener %s must not be advertised to clients", ctl)
	}
	if _, ok := advertised[env["KAFKA_INTER_BROKER_LISTENER_NAME"]]; !ok {
		t.Errorf("KAFKA_INTER_BROKER_LISTENER_NAME %q is not advertised", env["KAFKA_INTER_BROKER_LISTENER_NAME"])
	}
	// The containers reach the broker as kafka:9092, on the listener bound
	// to container port 9092.
	found := false
	for name, addr := range advertised {
		if addr == "kafka:9092" && strings.HasSuffix(listeners[name], ":9092") {
			found = true
		}
	}
	if !found {
		t.Errorf("no listener advertises kafka:9092 on container port 9092 (advertised %v, listeners %v)", advertised, listeners)
	}
	// Whatever is published to the host must be advertised as that address.
	for _, p := range strList(c.service(t, "kafka")["ports"]) {
		m := portRE.FindStringSubmatch(p)
		if m == nil {
			continue
		}
		ok := false
		for name, addr := range advertised {
			if addr == "127.0.0.1:"+m[1] && strings.HasSuffix(listeners[name], ":"+m[2]) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("kafka publishes %s, but no listener on container port %s advertises 127.0.0.1:%s", p, m[2], m[1])
		}
	}
}

// listenerMap parses "NAME://host:port,..." into NAME -> host:port.
func listenerMap(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if ok {
			out[name] = addr
		}
	}
	return out
}

func TestComposeTopicsCreatesAllTopics(t *testing.T) {
	c := loadCompose(t)
	s := c.service(t, "topics")
	script := strings.Join(append(strList(s["entrypoint"]), strList(s["command"])...), "\n")
	if !strings.Contains(script, "/opt/kafka/bin/kafka-topics.sh") {
		t.Error("topics: want /opt/kafka/bin/kafka-topics.sh")
	}
	if !strings.Contains(script, "--if-not-exists") {
		t.Error("topics: want --if-not-exists, so that every later `up` succeeds")
	}
	def := config.Default().Kafka
	if !strings.Contains(script, fmt.Sprintf("--partitions %d", def.Partitions)) {
		t.Errorf("topics: want --partitions %d (kafka.partitions)", def.Partitions)
	}
	if !strings.Contains(script, "--bootstrap-server kafka:9092") {
		t.Error("topics: want --bootstrap-server kafka:9092")
	}
	// The topic names are the configured defaults: rename one in
	// internal/config and this fails until the compose file follows.
	tp := def.Topics
	for _, topic := range []string{tp.Raw, tp.Events, tp.SegmentChanges, tp.Snapshots, tp.DLQ} {
		if !regexp.MustCompile(`(?m)^\s*create ` + regexp.QuoteMeta(topic) + `(\s|$)`).MatchString(script) {
			t.Errorf("topics does not create %s", topic)
		}
	}
}

func TestComposePersonasSettings(t *testing.T) {
	c := loadCompose(t)
	s := c.service(t, "personas")
	if cmd := strList(s["command"]); !slices.Equal(cmd, []string{"run"}) {
		t.Errorf("personas command = %v, want [run]", cmd)
	}
	env := environment(t, s)
	for k, want := range map[string]string{
		"PERSONAS_KAFKA_BROKERS":  "kafka:9092",
		"PERSONAS_REDIS_URL":      "redis://redis:6379/0",
		"PERSONAS_HTTP_LISTEN":    "0.0.0.0:9464",
		"PERSONAS_HTTP_PUBLIC_OK": "true",
	} {
		if env[k] != want {
			t.Errorf("personas %s = %q, want %q", k, env[k], want)
		}
	}
	// The settings must load exactly as the binary loads them: a misspelt
	// variable is a warning there, an invalid value an error.
	cfg := loadEnv(t, "personas", env)
	if !slices.Equal(cfg.Kafka.Brokers, []string{"kafka:9092"}) || cfg.Redis.URL != "redis://redis:6379/0" {
		t.Errorf("loaded brokers %v and redis %q", cfg.Kafka.Brokers, cfg.Redis.URL)
	}
	loadEnv(t, "generator", environment(t, c.service(t, "generator")))

	// /metrics is published and scraped on the port personas listens on.
	_, port, _ := strings.Cut(cfg.HTTP.Listen, ":")
	published := false
	for _, p := range strList(s["ports"]) {
		if m := portRE.FindStringSubmatch(p); m != nil && m[2] == port {
			published = true
		}
	}
	if !published {
		t.Errorf("personas listens on port %s but does not publish it", port)
	}
	// Compose kills the container after stop_grace_period (default 10 s);
	// personas needs up to http.shutdown_timeout to finish its batches.
	if g, err := time.ParseDuration(str(s, "stop_grace_period")); err != nil || g <= cfg.HTTP.ShutdownTimeout {
		t.Errorf("personas stop_grace_period %q must be longer than http.shutdown_timeout %s", str(s, "stop_grace_period"), cfg.HTTP.ShutdownTimeout)
	}
	if s["healthcheck"] != nil {
		t.Error("personas is distroless (no shell, no HTTP client): a compose healthcheck cannot run there")
	}
}

func loadEnv(t *testing.T, service string, env map[string]string) config.Config {
	t.Helper()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	cfg, warnings, err := config.Load("", environ)
	if err != nil {
		t.Errorf("%s environment does not load: %v", service, err)
	}
	for _, w := range warnings {
		t.Errorf("%s environment: %s", service, w)
	}
	return cfg
}
