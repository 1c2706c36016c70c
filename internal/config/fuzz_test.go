package config

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fuzzURLForms are PERSONAS_REDIS_URL values around a password, well and
// badly formed, so the URL checks and their error messages run.
var fuzzURLForms = []string{
	"redis://alice:%s@127.0.0.1:6379/0",
	"rediss://alice:%s@redis.internal:6380/2",
	"redis://alice:%s@127.0.0.1:99999/0",
	"redis://:%s@/0",
	"redis://alice:%s@127.0.0.1:7001?addr=127.0.0.1:7002&addr=nohost",
	"http://alice:%s@127.0.0.1:6379/0",
	"redis://alice:%s@127.0.0.1:6379/0%zz",
	"redis://alice:%s@[::1:6379/0",
	"redis://alice:%s@127.0.0.1:port/0",
	"redis://alice:%s@127.0.0.1:6379/x y",
}

// FuzzLoad loads arbitrary YAML (with secrets planted where the marker
// {{S}} stands) and PERSONAS_* variables carrying other secrets (a SASL
// password and a Redis URL password, in well and badly formed URLs).
// Invariants:
//
//  1. Load never panics, whatever the file holds.
//  2. No secret appears in Load's error, its warnings, or (when the
//     configuration is valid) in the redacted YAML that 'personas config
//     print' shows. Secrets are the values of kafka.sasl.password and the
//     password inside redis.url, from the file and from the environment.
//     A value the file also uses at a non-secret place (a topic name, a
//     key, an alias) is not a secret any more and is not checked, nor is
//     one shorter than 6 characters (it could occur anywhere by chance).
func FuzzLoad(f *testing.F) {
	base := string(Default().YAML())
	f.Add(base, "abc", uint8(0))
	f.Add(strings.Replace(base, "password: \"\"", "password: {{S}}", 1), "k9", uint8(1))
	f.Add(strings.Replace(base, "url: redis://127.0.0.1:6379/0", "url: redis://bob:{{S}}@127.0.0.1:6379/0", 1), "k9", uint8(2))
	f.Add("kafka:\n  sasl:\n    mechanism: scram-sha-512\n    username: alice\n    password: {{S}}\nredis:\n  url: rediss://alice:{{S}}@redis:6380/0\n", "zz", uint8(3))
	f.Add("kafka:\n  sasl:\n    mechanism: kerberos\n    password: {{S}}\n  brokers: [\"{{S}}\"]\n", "q", uint8(4))
	f.Add("redis:\n  url: \"{{S}}://x\"\n  timeout: {{S}}\n", "a", uint8(5))
	f.Add("kafka:\n  sasl:\n    password: &p {{S}}\n  client_id: *p\n", "x", uint8(6))
	f.Add("kafka: [1, 2\n", "x", uint8(7))
	f.Add("kafka:\n  sasl:\n    password: [{{S}}]\n", "x", uint8(8))
	f.Add("kafka:\n  sasl:\n    password: {{S}}\n    pasword: {{S}}\n", "x", uint8(9))
	f.Add("http:\n  listen: 0.0.0.0:9464\nkafka:\n  brokers: [kafka:notaport]\n", "x", uint8(10))
	f.Add("ingest:\n  scrub_patterns: ['({{S}}']\n", "x", uint8(11))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text, seed string, form uint8) {
		clean := strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, seed)
		if len(clean) > 12 {
			clean = clean[:12]
		}
		fileSecret := "s3cret-CANARY-file-" + clean
		envSecret := "s3cret-CANARY-env-" + clean
		text = strings.ReplaceAll(text, "{{S}}", fileSecret)
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		env := []string{"PERSONAS_KAFKA_SASL_PASSWORD=" + envSecret}
		if form&1 == 0 {
			env = append(env, "PERSONAS_REDIS_URL="+strings.Replace(fuzzURLForms[int(form>>1)%len(fuzzURLForms)], "%s", envSecret, 1))
		}
		if form&0x80 != 0 {
			env = append(env, "PERSONAS_KAFKA_SASL_MECHANISM=scram-sha-999", "PERSONAS_REDIS_TIMEOUT=soon")
		}

		cfg, warnings, err := Load(path, env)

		secrets := fileSecrets(text)
		secrets = append(secrets, envSecret)
		var shown []string
		if err != nil {
			shown = append(shown, err.Error())
		}
		shown = append(shown, warnings...)
		if err == nil {
			shown = append(shown, string(cfg.Redacted().YAML()))
		}
		for _, s := range secrets {
			for _, out := range shown {
				if strings.Contains(out, s) {
					t.Fatalf("secret %q shown:\n%s\n--- file:\n%s\n--- env: %q", s, out, text, env)
				}
			}
		}
	})
}

// fileSecrets returns the secrets a YAML file sets: kafka.sasl.password and
// the password in redis.url (raw and decoded), minus any value the file
// also uses elsewhere (then it is not kept secret by its author) and
// values shorter than 6 characters. A file that does not parse, or uses
// aliases or merge keys, yields none (its secrets are not tracked).
func fileSecrets(text string) []string {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil
	}
	secret := map[string]bool{}
	public := map[string]bool{}
	uncertain := false
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if n == nil || depth > 200 || uncertain {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				p := path
				if n.Kind == yaml.SequenceNode {
					p += "[]"
				}
				walk(c, p, depth+1)
			}
		case yaml.AliasNode:
			// An alias can put a secret's value at another place (and
			// aliases of aliases blow up a walk): not worth modelling.
			uncertain = true
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Value == "<<" {
					uncertain = true
				}
				public[k.Value] = true
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				walk(n.Content[i+1], p, depth+1)
			}
		case yaml.ScalarNode:
			switch path {
			case "kafka.sasl.password":
				secret[n.Value] = true
			case "redis.url":
				if u, err := url.Parse(n.Value); err == nil && u.User != nil {
					if p, ok := u.User.Password(); ok {
						secret[p] = true
						if _, raw, ok := strings.Cut(u.User.String(), ":"); ok {
							secret[raw] = true
						}
					}
				}
				public[n.Value] = true // only its password part is secret
			default:
				public[n.Value] = true
			}
		}
	}
	walk(&doc, "", 0)
	if uncertain {
		return nil
	}
	var out []string
	for s := range secret {
		if len(s) < 6 {
			continue
		}
		leaked := false
		for p := range public {
			if strings.Contains(p, s) && !strings.Contains(p, "://") {
				leaked = true
			}
		}
		if !leaked {
			out = append(out, s)
		}
	}
	return out
}
