package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable that overrides a setting.
const EnvPrefix = "PERSONAS_"

// envNotSettings are PERSONAS_* variables used by tools and tests, not
// settings; they are not reported as unknown.
var envNotSettings = map[string]bool{
	"PERSONAS_CONFIG":             true,
	"PERSONAS_REQUIRE_SERVICES":   true,
	"PERSONAS_REDIS_CLUSTER_URL":  true,
	"PERSONAS_CACHE_DIR":          true,
	"PERSONAS_BENCH_EVENTS":       true,
	"PERSONAS_FAULTS":             true,
	"PERSONAS_KEEP_SERVICES":      true,
	"PERSONAS_SVC_KAFKA_PORT":     true,
	"PERSONAS_SVC_KAFKA_CTL_PORT": true,
	"PERSONAS_SVC_REDIS_PORT":     true,
	"PERSONAS_SVC_CLUSTER_PORTS":  true,
}

// Load reads the YAML file at path (none when path is empty), applies the
// PERSONAS_* variables found in environ (os.Environ() form), and validates
// the result. Unknown YAML keys are errors; unknown PERSONAS_* variables are
// returned as warnings so a typo does not go unnoticed.
func Load(path string, environ []string) (Config, []string, error) {
	cfg := Default()
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return cfg, nil, fmt.Errorf("config file: %w (give an existing YAML file with --config or PERSONAS_CONFIG)", err)
		}
		defer f.Close()
		if err := decodeYAML(f, &cfg); err != nil {
			return cfg, nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	warnings, err := applyEnv(&cfg, environ)
	if err != nil {
		return cfg, warnings, err
	}
	return cfg, warnings, cfg.Validate()
}

func decodeYAML(r io.Reader, cfg *Config) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file keeps the defaults
		}
		return fmt.Errorf("%s (check the key names and value types against 'personas config print')", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// setting is one leaf of the configuration tree.
type setting struct {
	path   string // kafka.topics.raw
	env    string // PERSONAS_KAFKA_TOPICS_RAW
	secret string // "", "true" or "url"
	value  reflect.Value
}

func settings(cfg *Config) []setting {
	var out []setting
	var walk func(v reflect.Value, path []string, secret string)
	walk = func(v reflect.Value, path []string, secret string) {
		if v.Kind() == reflect.Struct && v.Type() != reflect.TypeOf(time.Duration(0)) {
			t := v.Type()
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				name := strings.Split(f.Tag.Get("yaml"), ",")[0]
				if name == "" || name == "-" {
					continue
				}
				walk(v.Field(i), append(append([]string(nil), path...), name), f.Tag.Get("secret"))
			}
			return
		}
		p := strings.Join(path, ".")
		out = append(out, setting{
			path:   p,
			env:    EnvPrefix + strings.ToUpper(strings.ReplaceAll(p, ".", "_")),
			secret: secret,
			value:  v,
		})
	}
	walk(reflect.ValueOf(cfg).Elem(), nil, "")
	return out
}

func applyEnv(cfg *Config, environ []string) ([]string, error) {
	byEnv := map[string]setting{}
	for _, s := range settings(cfg) {
		byEnv[s.env] = s
	}
	var warnings []string
	var errs []error
	keys := make([]string, 0, len(environ))
	vals := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) {
			continue
		}
		keys = append(keys, k)
		vals[k] = v
	}
	sort.Strings(keys)
	for _, k := range keys {
		s, ok := byEnv[k]
		if !ok {
			if !envNotSettings[k] {
				warnings = append(warnings, fmt.Sprintf("environment variable %s is not a setting and is ignored (see 'personas config print' for the names)", k))
			}
			continue
		}
		if err := setValue(s.value, vals[k]); err != nil {
			shown := vals[k]
			if s.secret != "" {
				shown = "(redacted)"
			}
			errs = append(errs, fmt.Errorf("%s=%s: %v (setting %s)", k, shown, err, s.path))
		}
	}
	return warnings, errors.Join(errs...)
}

func setValue(v reflect.Value, raw string) error {
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("not a duration; write it like 30s, 5m or 24h")
		}
		v.SetInt(int64(d))
		return nil
	case []time.Duration:
		var out []time.Duration
		for _, part := range splitList(raw) {
			d, err := time.ParseDuration(part)
			if err != nil {
				return fmt.Errorf("%q is not a duration; write a comma list like 5m,1h,24h", part)
			}
			out = append(out, d)
		}
		v.Set(reflect.ValueOf(out))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("not a boolean; write true or false")
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("not a whole number")
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if err != nil {
			return fmt.Errorf("not a number")
		}
		v.SetFloat(f)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment; use the YAML file")
		}
		v.Set(reflect.ValueOf(splitList(raw)))
	default:
		// Maps (mapping, rare fields, vocabulary) only come from YAML; their
		// env form would be unreadable.
		return fmt.Errorf("cannot be set from the environment; use the YAML file")
	}
	return nil
}

func splitList(raw string) []string {
	var out []string
	for _, p := range strings.Split(raw, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// EnvNames lists every setting's YAML path and environment variable, for
// help texts and docs.
func EnvNames() [][2]string {
	cfg := Default()
	var out [][2]string
	for _, s := range settings(&cfg) {
		out = append(out, [2]string{s.path, s.env})
	}
	return out
}

// Redacted returns a copy with secrets replaced: SASL passwords and the
// password inside the Redis URL.
func (c Config) Redacted() Config {
	r := c
	r.Kafka.Brokers = append([]string(nil), c.Kafka.Brokers...)
	for _, s := range settings(&r) {
		switch s.secret {
		case "true":
			if s.value.String() != "" {
				s.value.SetString("(redacted)")
			}
		case "url":
			s.value.SetString(RedactURL(s.value.String()))
		}
	}
	return r
}

// YAML renders the configuration as YAML (call Redacted first for output).
func (c Config) YAML() []byte {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	_ = enc.Encode(durationsAsText(c))
	return b.Bytes()
}

// durationsAsText converts the config to a generic tree where durations are
// written as "30s" instead of nanoseconds, so printed configs can be loaded
// again.
func durationsAsText(c Config) any {
	var conv func(v reflect.Value) any
	conv = func(v reflect.Value) any {
		if d, ok := v.Interface().(time.Duration); ok {
			return d.String()
		}
		switch v.Kind() {
		case reflect.Struct:
			m := yaml.Node{Kind: yaml.MappingNode}
			t := v.Type()
			for i := 0; i < t.NumField(); i++ {
				name := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
				var val yaml.Node
				_ = val.Encode(conv(v.Field(i)))
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: name}, &val)
			}
			return &m
		case reflect.Slice:
			out := make([]any, v.Len())
			for i := range out {
				out[i] = conv(v.Index(i))
			}
			return out
		default:
			return v.Interface()
		}
	}
	return conv(reflect.ValueOf(c))
}
