package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultsValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "personas.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileAndEnvOverride(t *testing.T) {
	p := writeFile(t, "kafka:\n  brokers: [10.0.0.1:9092]\nemit:\n  k: 50\n  tick: 10s\n  snapshot_every: 20s\n")
	cfg, warn, err := Load(p, []string{
		"PERSONAS_KAFKA_BROKERS=127.0.0.1:1,127.0.0.1:2",
		"PERSONAS_REDIS_URL=redis://u:pw@127.0.0.1:7000/2",
		"PERSONAS_EMIT_K=70",
		"PERSONAS_AGGREGATE_WINDOWS=5m,2h",
		"PERSONAS_KAFKA_TOPICS_SEGMENT_CHANGES=sc",
		"PERSONAS_NOT_A_SETTING=1",
		"HOME=/root",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Kafka.Brokers, ","); got != "127.0.0.1:1,127.0.0.1:2" {
		t.Errorf("brokers = %s", got)
	}
	if cfg.Emit.K != 70 || cfg.Emit.Tick != 10*time.Second {
		t.Errorf("emit = %+v", cfg.Emit)
	}
	if cfg.Kafka.Topics.SegmentChanges != "sc" {
		t.Errorf("topic override lost: %q", cfg.Kafka.Topics.SegmentChanges)
	}
	if len(cfg.Aggregate.Windows) != 2 || cfg.Aggregate.Windows[1] != 2*time.Hour {
		t.Errorf("windows = %v", cfg.Aggregate.Windows)
	}
	if len(warn) != 1 || !strings.Contains(warn[0], "PERSONAS_NOT_A_SETTING") {
		t.Errorf("warnings = %v", warn)
	}
	red := cfg.Redacted()
	if strings.Contains(string(red.YAML()), "pw@") || !strings.Contains(string(red.YAML()), "xxxxx") {
		t.Errorf("redis password not redacted:\n%s", red.YAML())
	}
	if !strings.Contains(cfg.Redis.URL, "pw@") {
		t.Error("Redacted must not change the original")
	}
}

func TestUnknownKeyNamesIt(t *testing.T) {
	p := writeFile(t, "kafka:\n  brokerz: [x]\n")
	_, _, err := Load(p, nil)
	if err == nil || !strings.Contains(err.Error(), "brokerz") {
		t.Fatalf("want an error naming brokerz, got %v", err)
	}
}

func TestBadValuesNameSettingAndFix(t *testing.T) {
	cases := []struct {
		env, want string
	}{
		{"PERSONAS_KAFKA_BROKERS=localhost", "kafka.brokers"},
		{"PERSONAS_KAFKA_BROKERS=host:99999", "port must be 1-65535"},
		{"PERSONAS_REDIS_URL=http://x", "redis.url"},
		{"PERSONAS_EMIT_K=1", "emit.k"},
		{"PERSONAS_EMIT_TICK=soon", "not a duration"},
		{"PERSONAS_HTTP_LISTEN=0.0.0.0:9464", "not a loopback address"},
		{"PERSONAS_KAFKA_TOPICS_DLQ=clickstream.raw", "also used by"},
		{"PERSONAS_INGEST_EPOCH=7h", "must divide a day"},
		{"PERSONAS_KAFKA_SASL_MECHANISM=kerberos", "kafka.sasl.mechanism"},
	}
	for _, c := range cases {
		_, _, err := Load("", []string{c.env})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want error containing %q, got %v", c.env, c.want, err)
		}
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	_, _, err := Load("", []string{"PERSONAS_REDIS_URL=redis://u:s3cr3t-canary@%zz/0", "PERSONAS_KAFKA_SASL_PASSWORD=x", "PERSONAS_KAFKA_SASL_MECHANISM=plain"})
	if err == nil {
		t.Fatal("want errors")
	}
	if strings.Contains(err.Error(), "s3cr3t-canary") {
		t.Fatalf("secret leaked in error: %v", err)
	}
}

func TestPrintedConfigLoadsAgain(t *testing.T) {
	cfg := Default()
	p := writeFile(t, string(cfg.YAML()))
	got, _, err := Load(p, nil)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, cfg.YAML())
	}
	if got.Emit.Tick != cfg.Emit.Tick || got.Aggregate.Windows[2] != 24*time.Hour {
		t.Errorf("round trip changed values")
	}
}
