package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/segmentio/kafka-go"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/testenv"
	"github.com/personas-dev/personas/schemas"
	"github.com/personas-dev/personas/synth"
)

// secure holds the settings scripts/secure-services writes to
// .services/secure/env: the secured broker's listeners, the secured Redis,
// the CA and the (canary-shaped) passwords.
type secure map[string]string

var (
	secureOnce    sync.Once
	secureVals    secure
	secureErr     error
	secureStarted bool
)

// secureServices starts scripts/secure-services (once per test binary) and
// returns its settings. Without Java it skips, or fails under
// PERSONAS_REQUIRE_SERVICES=1. Services this run started are stopped at
// the end of the test that started them unless PERSONAS_KEEP_SERVICES=1;
// so keep every use inside TestSecurity.
func secureServices(t *testing.T) secure {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		if testenv.Required() {
			t.Fatalf("java is not installed but PERSONAS_REQUIRE_SERVICES=1: the security tests need a second Kafka broker (apt-get install openjdk-17-jre-headless)")
		}
		t.Skip("java is not installed: skipping the tests against a secured Kafka broker")
	}
	secureOnce.Do(func() {
		root := repoRoot(t)
		script := filepath.Join(root, "scripts", "secure-services")
		status, _ := exec.Command(script, "status").CombinedOutput()
		secureStarted = !bytes.Contains(status, []byte("kafka  running")) || !bytes.Contains(status, []byte("redis  running"))
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, script, "up")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			secureErr = fmt.Errorf("scripts/secure-services up: %v\n%s", err, tail(out, 30))
			return
		}
		secureVals, secureErr = readEnvFile(filepath.Join(root, ".services", "secure", "env"))
	})
	if secureErr != nil {
		t.Fatal(secureErr)
	}
	return secureVals
}

func readEnvFile(path string) (secure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := secure{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "export "), "="); ok && !strings.HasPrefix(k, "#") {
			s[k] = v
		}
	}
	return s, sc.Err()
}

func (s secure) get(t *testing.T, name string) string {
	t.Helper()
	v := s["PERSONAS_SECURE_"+name]
	if v == "" {
		t.Fatalf("PERSONAS_SECURE_%s missing from .services/secure/env", name)
	}
	return v
}

// kafkaClient is how one test case reaches the secured broker.
type kafkaClient struct {
	name     string
	listener string // SASL_PLAINTEXT, SASL_SSL or MTLS
	mech     string // "", plain, scram-sha-256, scram-sha-512
	user     string
	password string
	tls      bool
	ca       bool // trust the local CA (else the system pool)
	cert     bool // present the client certificate
}

func (k kafkaClient) vars(s secure, t *testing.T) []string {
	v := []string{"PERSONAS_KAFKA_BROKERS=" + s.get(t, "KAFKA_"+k.listener)}
	if k.mech != "" {
		v = append(v, "PERSONAS_KAFKA_SASL_MECHANISM="+k.mech, "PERSONAS_KAFKA_SASL_USERNAME="+k.user, "PERSONAS_KAFKA_SASL_PASSWORD="+k.password)
	}
	if k.tls {
		v = append(v, "PERSONAS_KAFKA_TLS_ENABLED=true")
	}
	if k.ca {
		v = append(v, "PERSONAS_KAFKA_TLS_CA_FILE="+s.get(t, "CA_FILE"))
	}
	if k.cert {
		v = append(v, "PERSONAS_KAFKA_TLS_CERT_FILE="+s.get(t, "CLIENT_CERT"), "PERSONAS_KAFKA_TLS_KEY_FILE="+s.get(t, "CLIENT_KEY"))
	}
	return v
}

// adminConn connects as the broker's admin user over SASL_PLAINTEXT, to
// create topics and produce and read test data.
func adminConn(t *testing.T, s secure) *kafkax.Conn {
	t.Helper()
	c := config.Default().Kafka
	c.Brokers = []string{s.get(t, "KAFKA_SASL_PLAINTEXT")}
	c.ClientID = "personas-e2e-security"
	c.SASL = config.SASL{Mechanism: "scram-sha-512", Username: "admin", Password: s.get(t, "KAFKA_ADMIN_PASSWORD")}
	conn, err := kafkax.NewConn(c)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// secureEnv is one test's world on the secured servers: its own topics,
// groups and Redis key prefix, reached as the given clients.
type secureEnv struct {
	*env
	s     secure
	admin *kafkax.Conn
}

func newSecureEnv(t *testing.T, s secure, k kafkaClient, redisURL string, redisVars ...string) *secureEnv {
	t.Helper()
	admin := adminConn(t, s)
	prefix := testenv.Prefix(t)
	topics := map[string]string{}
	var names []string
	for _, base := range []string{"raw", "events", "changes", "snapshots", "dlq"} {
		topics[base] = "sec-" + base + "-" + strings.Trim(strings.ReplaceAll(prefix, ":", "-"), "-")
		names = append(names, topics[base])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := admin.EnsureTopics(ctx, 1, 1, names...); err != nil {
		t.Fatalf("creating topics on the secured broker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.Client().DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: names})
		if c := secureRedisAdmin(t, s); c != nil {
			var keys []string
			iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				keys = append(keys, iter.Val())
			}
			if len(keys) > 0 {
				c.Del(ctx, keys...)
			}
		}
	})
	e := &env{t: t, prefix: prefix, topics: topics, redisURL: redisURL}
	e.vars = append(k.vars(s, t),
		"PERSONAS_REDIS_URL="+redisURL,
		"PERSONAS_REDIS_KEY_PREFIX="+prefix,
		"PERSONAS_KAFKA_TOPICS_RAW="+topics["raw"],
		"PERSONAS_KAFKA_TOPICS_EVENTS="+topics["events"],
		"PERSONAS_KAFKA_TOPICS_SEGMENT_CHANGES="+topics["changes"],
		"PERSONAS_KAFKA_TOPICS_SNAPSHOTS="+topics["snapshots"],
		"PERSONAS_KAFKA_TOPICS_DLQ="+topics["dlq"],
		"PERSONAS_KAFKA_GROUPS_INGEST="+prefix+"ingest",
		"PERSONAS_KAFKA_GROUPS_AGGREGATE="+prefix+"aggregate",
		"PERSONAS_KAFKA_CREATE_TOPICS=false",
		"PERSONAS_KAFKA_CONSUMER_SESSION_TIMEOUT=6s",
		"PERSONAS_HTTP_LISTEN=127.0.0.1:0",
		"PERSONAS_LOG_LEVEL=debug",
	)
	e.vars = append(e.vars, redisVars...)
	return &secureEnv{env: e, s: s, admin: admin}
}

// produce writes raw events to the secured broker as the admin user.
func (e *secureEnv) produce(msgs ...kafka.Message) {
	e.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(e.admin.Brokers...), Topic: e.topics["raw"], Transport: e.admin.Transport(),
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, Balancer: &kafka.Murmur2Balancer{}}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		e.t.Fatalf("producing to the secured broker: %v", err)
	}
}

// read returns every message of a topic of the secured broker.
func (e *secureEnv) read(topic string, quiet time.Duration) []kafka.Message {
	e.t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.admin.Brokers, Topic: topic, Partition: 0, Dialer: e.admin.Dialer(),
		MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	var out []kafka.Message
	for {
		ctx, cancel := context.WithTimeout(context.Background(), quiet)
		m, err := r.ReadMessage(ctx)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, m)
	}
}

// secureRedisAdmin connects to the secured Redis as its admin user.
func secureRedisAdmin(t *testing.T, s secure) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s["PERSONAS_SECURE_REDIS_ADDR"], Username: "admin", Password: s["PERSONAS_SECURE_REDIS_ADMIN_PASSWORD"]})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func secRawEvents(n int, tag string) []kafka.Message {
	now := time.Now()
	out := make([]kafka.Message, n)
	for i := range out {
		out[i] = kafka.Message{Key: []byte(fmt.Sprintf("%s-%d", tag, i%7)), Value: []byte(fmt.Sprintf(
			`{"type":"page","name":"Category","anonymousId":"%s-%d","timestamp":%q,"context":{"page":{"url":"https://shop.example/c/books"}}}`,
			tag, i%7, now.Add(-time.Minute).UTC().Format(time.RFC3339Nano)))}
	}
	return out
}

// secUserURL builds a redis URL with credentials.
func secUserURL(scheme, user, password, addr string) string {
	return (&url.URL{Scheme: scheme, User: url.UserPassword(user, password), Host: addr, Path: "/0"}).String()
}

// TestSecurity runs the pipeline against a Kafka broker that requires SASL
// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512), over TLS and with mutual TLS, and
// a Redis that requires AUTH (a password for the default user, an ACL
// user) over TLS; checks that wrong credentials and untrusted certificates
// are refused (readiness says so, no data flows); and that no secret
// (SASL and Redis passwords, epoch keys in any encoding) appears in any
// output, topic, metric, printed configuration or help text.
func TestSecurity(t *testing.T) {
	s := secureServices(t)
	t.Cleanup(func() {
		if secureStarted && os.Getenv("PERSONAS_KEEP_SERVICES") != "1" {
			out, err := exec.Command(filepath.Join(repoRoot(t), "scripts", "secure-services"), "stop").CombinedOutput()
			if err != nil {
				t.Logf("scripts/secure-services stop: %v\n%s", err, out)
			}
		}
	})
	plainUser, plainPW := s.get(t, "KAFKA_PLAIN_USER"), s.get(t, "KAFKA_PLAIN_PASSWORD")
	scramUser, scramPW := s.get(t, "KAFKA_SCRAM_USER"), s.get(t, "KAFKA_SCRAM_PASSWORD")
	redisUser, redisPW := s.get(t, "REDIS_USER"), s.get(t, "REDIS_PASSWORD")
	defaultPW := s.get(t, "REDIS_DEFAULT_PASSWORD")
	redisAddr, redisTLSAddr := s.get(t, "REDIS_ADDR"), s.get(t, "REDIS_TLS_ADDR")
	ca := s.get(t, "CA_FILE")
	caVars := []string{"PERSONAS_REDIS_TLS_CA_FILE=" + ca}
	secrets := []string{plainPW, scramPW, redisPW, defaultPW}

	t.Run("flows", func(t *testing.T) {
		for _, c := range []struct {
			k         kafkaClient
			redisURL  string
			redisVars []string
		}{
			{kafkaClient{name: "SASL_PLAINTEXT PLAIN, Redis ACL user over TLS", listener: "SASL_PLAINTEXT", mech: "plain", user: plainUser, password: plainPW},
				secUserURL("rediss", redisUser, redisPW, redisTLSAddr), caVars},
			{kafkaClient{name: "SASL_PLAINTEXT SCRAM-SHA-256, Redis default user password (requirepass form)", listener: "SASL_PLAINTEXT", mech: "scram-sha-256", user: scramUser, password: scramPW},
				"redis://:" + url.PathEscape(defaultPW) + "@" + redisAddr + "/0", nil},
			{kafkaClient{name: "SASL_SSL SCRAM-SHA-512 with CA file, Redis ACL user without TLS", listener: "SASL_SSL", mech: "scram-sha-512", user: scramUser, password: scramPW, tls: true, ca: true},
				secUserURL("redis", redisUser, redisPW, redisAddr), nil},
			{kafkaClient{name: "SASL_SSL PLAIN with CA file, Redis TLS with a client certificate", listener: "SASL_SSL", mech: "plain", user: plainUser, password: plainPW, tls: true, ca: true},
				secUserURL("rediss", redisUser, redisPW, redisTLSAddr), append(caVars, "PERSONAS_REDIS_TLS_CERT_FILE="+s.get(t, "CLIENT_CERT"), "PERSONAS_REDIS_TLS_KEY_FILE="+s.get(t, "CLIENT_KEY"))},
			{kafkaClient{name: "SSL mutual TLS (client certificate, no SASL)", listener: "MTLS", tls: true, ca: true, cert: true},
				secUserURL("rediss", redisUser, redisPW, redisTLSAddr), caVars},
		} {
			t.Run(c.k.name, func(t *testing.T) {
				keepLogsOnFailure(t)
				e := newSecureEnv(t, s, c.k, c.redisURL, c.redisVars...)
				e.produce(secRawEvents(20, "flow")...)
				p := e.start("ingest")
				addr := p.httpAddr(t)
				var events []kafka.Message
				waitFor(t, 3*time.Minute, "20 anonymized events through the secured broker", func() bool {
					return metric(addr, `personas_events_out_total{stage="ingest"}`) >= 20
				})
				events = e.read(e.topics["events"], 2*time.Second)
				if len(events) != 20 {
					t.Errorf("events topic holds %d events, want 20", len(events))
				}
				for _, m := range events {
					if err := schemas.ValidateJSON(schemas.EventSchema, m.Value); err != nil {
						t.Fatalf("event does not validate: %v", err)
					}
				}
				waitFor(t, 30*time.Second, "/readyz 200", func() bool { return readyz(addr) == http.StatusOK })
				// The epoch key went to the secured Redis.
				keys, _ := secureRedisAdmin(t, s).Keys(context.Background(), e.prefix+"epochkey:*").Result()
				if len(keys) == 0 {
					t.Errorf("no epoch key under %sepochkey: in the secured Redis", e.prefix)
				}
				p.stop(t, 60*time.Second)
				assertNoSecrets(t, "process output", p.out.Bytes(), secrets)
				t.Logf("%d events through %s; readiness ok; epoch key in the secured Redis", len(events), s.get(t, "KAFKA_"+c.k.listener))
			})
		}
	})

	t.Run("refused", func(t *testing.T) {
		badPW := "s3cret-CANARY-wrong-0b5e"
		for _, c := range []struct {
			name      string
			k         kafkaClient
			redisURL  string
			redisVars []string
			down      string // the readiness check that must fail
		}{
			{"wrong SCRAM password", kafkaClient{listener: "SASL_PLAINTEXT", mech: "scram-sha-512", user: scramUser, password: badPW},
				secUserURL("redis", redisUser, redisPW, redisAddr), nil, "kafka"},
			{"wrong PLAIN password over TLS", kafkaClient{listener: "SASL_SSL", mech: "plain", user: plainUser, password: badPW, tls: true, ca: true},
				secUserURL("redis", redisUser, redisPW, redisAddr), nil, "kafka"},
			{"broker certificate not trusted (no CA file)", kafkaClient{listener: "SASL_SSL", mech: "scram-sha-512", user: scramUser, password: scramPW, tls: true},
				secUserURL("redis", redisUser, redisPW, redisAddr), nil, "kafka"},
			{"mutual TLS without a client certificate", kafkaClient{listener: "MTLS", tls: true, ca: true},
				secUserURL("redis", redisUser, redisPW, redisAddr), nil, "kafka"},
			{"wrong Redis ACL password", kafkaClient{listener: "SASL_PLAINTEXT", mech: "plain", user: plainUser, password: plainPW},
				secUserURL("redis", redisUser, badPW, redisAddr), nil, "redis"},
			{"Redis without credentials", kafkaClient{listener: "SASL_PLAINTEXT", mech: "plain", user: plainUser, password: plainPW},
				"redis://" + redisAddr + "/0", nil, "redis"},
			{"Redis TLS certificate not trusted (no CA file)", kafkaClient{listener: "SASL_PLAINTEXT", mech: "plain", user: plainUser, password: plainPW},
				secUserURL("rediss", redisUser, redisPW, redisTLSAddr), nil, "redis"},
		} {
			t.Run(c.name, func(t *testing.T) {
				keepLogsOnFailure(t)
				e := newSecureEnv(t, s, c.k, c.redisURL, c.redisVars...)
				e.produce(secRawEvents(5, "refused")...)
				p := e.start("ingest")
				addr := p.httpAddr(t)
				var body string
				waitFor(t, 90*time.Second, "/readyz to report "+c.down+" unreachable", func() bool {
					code, b := secHTTPGet(addr, "/readyz")
					body = b
					return code == http.StatusServiceUnavailable && strings.Contains(b, `"`+c.down+`":"unreachable"`)
				})
				time.Sleep(5 * time.Second)
				if n := len(e.read(e.topics["events"], time.Second)); n != 0 {
					t.Errorf("%d events got through with %s", n, c.name)
				}
				p.stop(t, 60*time.Second)
				out := p.out.Bytes()
				assertNoSecrets(t, "process output", out, append(secrets, badPW))
				assertNoSecrets(t, "/readyz", []byte(body), append(secrets, badPW))
				t.Logf("/readyz: %s", strings.TrimSpace(body))
				for _, l := range logLines(out) {
					if msg, _ := l["error"].(string); msg != "" {
						t.Logf("first logged error: %.300s", msg)
						break
					}
				}
			})
		}
	})

	t.Run("secrets never shown", func(t *testing.T) {
		keepLogsOnFailure(t)
		k := kafkaClient{listener: "SASL_SSL", mech: "scram-sha-512", user: scramUser, password: scramPW, tls: true, ca: true}
		e := newSecureEnv(t, s, k, secUserURL("rediss", redisUser, redisPW, redisTLSAddr),
			append(caVars, "PERSONAS_EMIT_TICK=1s", "PERSONAS_EMIT_SNAPSHOT_EVERY=2s", "PERSONAS_EMIT_K=2")...)
		cfg := synth.DefaultConfig()
		cfg.Seed = 11
		cfg.Visitors = 50
		cfg.Canaries = true
		cfg.BadShare = 0.05
		cfg.EventsPerSecond = 10
		cfg.Start = time.Now().Add(-3 * time.Minute)
		g := synth.New(cfg)
		var msgs []kafka.Message
		var ev synth.Event
		for i := 0; i < 600; i++ {
			g.Next(&ev)
			msgs = append(msgs, kafka.Message{Key: bytes.Clone(ev.Key), Value: bytes.Clone(ev.Value), Time: ev.Time})
		}
		e.produce(msgs...)
		p := e.start("run")
		addr := p.httpAddr(t)
		waitFor(t, 4*time.Minute, "all 600 messages through ingest", func() bool {
			return metric(addr, `personas_events_in_total{stage="ingest"}`) >= 600
		})
		waitFor(t, 2*time.Minute, "a persona snapshot", func() bool { return len(e.read(e.topics["snapshots"], time.Second)) > 0 })

		// Everything the process and the CLI show.
		outputs := map[string][]byte{}
		for _, path := range []string{"/metrics", "/readyz", "/healthz"} {
			_, b := secHTTPGet(addr, path)
			outputs[path] = []byte(b)
		}
		run := func(args ...string) []byte {
			cmd := exec.Command(binary, args...)
			cmd.Env = append(os.Environ(), e.vars...)
			out, _ := cmd.CombinedOutput()
			return out
		}
		printed := run("config", "print")
		outputs["personas config print"] = printed
		outputs["personas config validate"] = run("config", "validate")
		for _, want := range []string{"password: (redacted)", redisUser + ":xxxxx@"} {
			if !bytes.Contains(printed, []byte(want)) {
				t.Errorf("config print does not show %q:\n%s", want, printed)
			}
		}
		for _, cmd := range helpCommands(t, run) {
			outputs["personas "+strings.Join(cmd, " ")+" --help"] = run(append(cmd, "--help")...)
		}
		p.stop(t, 60*time.Second)
		outputs["process output"] = p.out.Bytes()
		for _, topic := range []string{"events", "dlq", "changes", "snapshots"} {
			var b bytes.Buffer
			for _, m := range e.read(e.topics[topic], time.Second) {
				b.Write(m.Key)
				b.Write(m.Value)
				for _, h := range m.Headers {
					b.WriteString(h.Key)
					b.Write(h.Value)
				}
			}
			outputs["topic "+topic] = b.Bytes()
		}

		// The epoch keys (and rare-value keys): raw bytes and every usual
		// text form.
		rc := secureRedisAdmin(t, s)
		ctx := context.Background()
		epochKeys, err := rc.Keys(ctx, e.prefix+"epochkey:*").Result()
		rareKeys, _ := rc.Keys(ctx, e.prefix+"rarekey:*").Result()
		keyNames := append(epochKeys, rareKeys...)
		if err != nil || len(epochKeys) == 0 {
			t.Fatalf("no epoch keys under %s in Redis: %v", e.prefix, err)
		}
		var keyForms []string
		for _, name := range keyNames {
			k, err := rc.Get(ctx, name).Bytes()
			if err != nil || len(k) < 16 {
				t.Fatalf("reading %s: %v (%d bytes)", name, err, len(k))
			}
			keyForms = append(keyForms, string(k), hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)),
				base64.StdEncoding.EncodeToString(k), base64.RawStdEncoding.EncodeToString(k),
				base64.URLEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k))
			// Also every 12-byte window of the key in hex: a truncated print.
			for i := 0; i+12 <= len(k); i += 4 {
				keyForms = append(keyForms, hex.EncodeToString(k[i:i+12]))
			}
		}
		// Other Redis values must not hold a key either.
		var others bytes.Buffer
		all, _ := rc.Keys(ctx, e.prefix+"*").Result()
		for _, name := range all {
			if strings.Contains(name, "epochkey:") || strings.Contains(name, "rarekey:") {
				continue
			}
			others.WriteString(name)
			switch rc.Type(ctx, name).Val() {
			case "string":
				b, _ := rc.Get(ctx, name).Bytes()
				others.Write(b)
			case "hash":
				for f, v := range rc.HGetAll(ctx, name).Val() {
					others.WriteString(f + v)
				}
			}
		}
		outputs["other Redis values"] = others.Bytes()

		for where, b := range outputs {
			if len(b) == 0 && where != "topic dlq" && where != "topic changes" {
				t.Errorf("%s is empty: the check would prove nothing", where)
			}
			assertNoSecrets(t, where, b, secrets)
			for _, f := range keyForms {
				if bytes.Contains(b, []byte(f)) {
					t.Errorf("%s holds an epoch key (%d-byte form)", where, len(f))
				}
			}
		}
		t.Logf("searched %d outputs for %d passwords and %d epoch/rare keys in %d forms", len(outputs), len(secrets), len(keyNames), len(keyForms))
	})
}

// helpCommands lists every command path of the CLI from the help texts.
func helpCommands(t *testing.T, run func(...string) []byte) [][]string {
	t.Helper()
	out := [][]string{{}}
	re := regexp.MustCompile(`(?m)^  ([a-z][a-z-]*)\s{2,}`)
	for i := 0; i < len(out); i++ {
		help := run(append(out[i], "--help")...)
		_, cmds, ok := strings.Cut(string(help), "Available Commands:")
		if !ok {
			continue
		}
		cmds, _, _ = strings.Cut(cmds, "\n\n")
		for _, m := range re.FindAllStringSubmatch(cmds, -1) {
			if m[1] == "help" || m[1] == "completion" {
				continue
			}
			out = append(out, append(append([]string(nil), out[i]...), m[1]))
		}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d commands in the help texts: %v", len(out), out)
	}
	return out
}

func assertNoSecrets(t *testing.T, where string, b []byte, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), base64.StdEncoding.EncodeToString([]byte(s))} {
			if bytes.Contains(b, []byte(form)) {
				t.Errorf("%s holds a secret (%.14s...)", where, form)
			}
		}
	}
	if bytes.Contains(b, []byte("s3cret-CANARY")) {
		t.Errorf("%s holds a canary password prefix", where)
	}
}

func secHTTPGet(addr, path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, ""
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestHTTPLoopbackOnly: /healthz, /readyz, /metrics (and pprof, the
// dashboard) are served on loopback unless http.public_ok is set; any
// other address is refused at start with a message that names the setting.
func TestHTTPLoopbackOnly(t *testing.T) {
	e := newEnv(t, 1)
	validate := func(vars ...string) (int, string) {
		cmd := exec.Command(binary, "config", "validate")
		cmd.Env = append(append(os.Environ(), e.vars...), vars...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return code, string(out)
	}
	// The default is loopback.
	def := config.Default().HTTP.Listen
	if host, _, _ := net.SplitHostPort(def); net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		t.Errorf("default http.listen %q is not a loopback address", def)
	}
	for _, bad := range []string{"0.0.0.0:9464", ":9464", "[::]:9464", "192.0.2.10:9464", "example.com:9464"} {
		code, out := validate("PERSONAS_HTTP_LISTEN=" + bad)
		if code != 2 || !strings.Contains(out, "http.public_ok") {
			t.Errorf("http.listen=%s: exit %d, want 2 with a message naming http.public_ok:\n%s", bad, code, out)
		}
		if code, out := validate("PERSONAS_HTTP_LISTEN="+bad, "PERSONAS_HTTP_PUBLIC_OK=true"); code != 0 {
			t.Errorf("http.listen=%s with public_ok: exit %d:\n%s", bad, code, out)
		}
	}
	for _, good := range []string{"127.0.0.1:9464", "[::1]:9464", "localhost:9464", "127.0.0.2:0"} {
		if code, out := validate("PERSONAS_HTTP_LISTEN=" + good); code != 0 {
			t.Errorf("http.listen=%s: exit %d:\n%s", good, code, out)
		}
	}
	// The --http flag goes through the same check, and the process does not
	// start.
	cmd := exec.Command(binary, "run", "--http", "0.0.0.0:0")
	cmd.Env = append(os.Environ(), e.vars...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), "http.public_ok") {
		t.Errorf("run --http 0.0.0.0:0: %v, want exit 2 naming http.public_ok:\n%s", err, out)
	}

	// On loopback, nothing answers on the machine's other addresses.
	external := externalIP()
	p := e.start("ingest")
	addr := p.httpAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("bound to %s, not loopback", addr)
	}
	if code := hostileHTTPStatus(addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz on %s: %d", addr, code)
	}
	if external != "" {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(external, port), 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the HTTP port answers on %s", external)
		}
	}
	p.stop(t, 60*time.Second)

	// With http.public_ok it serves on all addresses.
	if external == "" {
		t.Log("no non-loopback address on this machine: public_ok checked by configuration only")
		return
	}
	e.vars = append(e.vars, "PERSONAS_HTTP_LISTEN=0.0.0.0:0", "PERSONAS_HTTP_PUBLIC_OK=true")
	p = e.start("ingest")
	_, port, _ = net.SplitHostPort(p.httpAddr(t))
	if code := hostileHTTPStatus(net.JoinHostPort(external, port), "/healthz"); code != http.StatusOK {
		t.Errorf("with http.public_ok, /healthz on %s:%s answers %d", external, port, code)
	}
	p.stop(t, 60*time.Second)
}

// externalIP returns a non-loopback IPv4 address of this machine, or "".
func externalIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return ""
}
