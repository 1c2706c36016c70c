package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validate checks every setting and returns all problems at once, each
// naming the setting (YAML path and environment variable) and the fix.
func (c Config) Validate() error {
	var errs []error
	bad := func(path, format string, args ...any) {
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
		errs = append(errs, fmt.Errorf("setting %s (%s): %s", path, env, fmt.Sprintf(format, args...)))
	}

	if len(c.Kafka.Brokers) == 0 {
		bad("kafka.brokers", "no broker given; set at least one host:port, for example 127.0.0.1:9092")
	}
	for _, b := range c.Kafka.Brokers {
		if err := checkHostPort(b); err != nil {
			bad("kafka.brokers", "%q is not a broker address: %v; write host:port, for example 127.0.0.1:9092", b, err)
		}
	}
	if c.Kafka.ClientID == "" {
		bad("kafka.client_id", "empty; give a name such as personas")
	}
	topics := map[string]string{
		"kafka.topics.raw": c.Kafka.Topics.Raw, "kafka.topics.events": c.Kafka.Topics.Events,
		"kafka.topics.segment_changes": c.Kafka.Topics.SegmentChanges, "kafka.topics.snapshots": c.Kafka.Topics.Snapshots,
		"kafka.topics.dlq": c.Kafka.Topics.DLQ,
	}
	seen := map[string]string{}
	for _, path := range slices.Sorted(maps.Keys(topics)) {
		t := topics[path]
		if !validTopic.MatchString(t) {
			bad(path, "%q is not a valid Kafka topic name; use 1-249 characters of a-z A-Z 0-9 . _ -", t)
		}
		if other, dup := seen[t]; dup {
			bad(path, "topic %q is also used by %s; every topic must be distinct", t, other)
		}
		seen[t] = path
	}
	if c.Kafka.Groups.Ingest == "" || c.Kafka.Groups.Aggregate == "" {
		bad("kafka.groups", "group ids must not be empty")
	} else if c.Kafka.Groups.Ingest == c.Kafka.Groups.Aggregate {
		bad("kafka.groups.aggregate", "same group id as kafka.groups.ingest; the stages need distinct groups")
	}
	if c.Kafka.Consumer.MaxBatch < 1 || c.Kafka.Consumer.MaxBatch > 100000 {
		bad("kafka.consumer.max_batch", "%d is out of range; use 1 to 100000 (default 2000)", c.Kafka.Consumer.MaxBatch)
	}
	if c.Kafka.Consumer.Linger < 0 || c.Kafka.Consumer.Linger > 10*time.Second {
		bad("kafka.consumer.linger", "%s is out of range; use 0 to 10s (default 20ms)", c.Kafka.Consumer.Linger)
	}
	if c.Kafka.Consumer.MaxBytes < 1<<10 {
		bad("kafka.consumer.max_bytes", "%d is too small; use at least 1024 (default 10 MiB)", c.Kafka.Consumer.MaxBytes)
	}
	if c.Kafka.Consumer.SessionTimeout < time.Second {
		bad("kafka.consumer.session_timeout", "%s is too short; use at least 1s (default 10s)", c.Kafka.Consumer.SessionTimeout)
	}
	if c.Kafka.Consumer.StartFrom != "earliest" && c.Kafka.Consumer.StartFrom != "latest" {
		bad("kafka.consumer.start_from", "%q is not earliest or latest", c.Kafka.Consumer.StartFrom)
	}
	if c.Kafka.Producer.BatchSize < 1 {
		bad("kafka.producer.batch_size", "must be at least 1 (default 2000)")
	}
	if c.Kafka.Producer.BatchTimeout <= 0 {
		bad("kafka.producer.batch_timeout", "must be positive (default 2ms)")
	}
	if c.Kafka.Producer.Acks != "all" && c.Kafka.Producer.Acks != "leader" {
		bad("kafka.producer.acks", "%q is not all or leader; the delivery promises need all", c.Kafka.Producer.Acks)
	}
	switch c.Kafka.Producer.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad("kafka.producer.compression", "%q is not one of none, gzip, snappy, lz4, zstd", c.Kafka.Producer.Compression)
	}
	switch c.Kafka.SASL.Mechanism {
	case "":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.Kafka.SASL.Username == "" {
			bad("kafka.sasl.username", "empty while kafka.sasl.mechanism is %s; give the SASL user", c.Kafka.SASL.Mechanism)
		}
	default:
		bad("kafka.sasl.mechanism", "%q is not plain, scram-sha-256 or scram-sha-512 (or empty for none)", c.Kafka.SASL.Mechanism)
	}
	checkTLS(bad, "kafka.tls", c.Kafka.TLS)
	if c.Kafka.Partitions < 1 || c.Kafka.Partitions > 10000 {
		bad("kafka.partitions", "%d is out of range; use 1 to 10000 (default 6)", c.Kafka.Partitions)
	}
	if c.Kafka.ReplicationFactor < 1 || c.Kafka.ReplicationFactor > 16 {
		bad("kafka.replication_factor", "%d is out of range; use 1 to 16 (default 1)", c.Kafka.ReplicationFactor)
	}

	if err := checkRedisURL(c.Redis.URL); err != nil {
		bad("redis.url", "%v", err)
	}
	if c.Redis.KeyPrefix == "" || strings.ContainsAny(c.Redis.KeyPrefix, "{} \t\n") {
		bad("redis.key_prefix", "%q must be non-empty and hold no braces or spaces (braces are hash tags)", c.Redis.KeyPrefix)
	}
	checkTLS(bad, "redis.tls", c.Redis.TLS)
	if c.Redis.Timeout < 10*time.Millisecond {
		bad("redis.timeout", "%s is too short; use at least 10ms (default 3s)", c.Redis.Timeout)
	}

	in := c.Ingest
	if in.Epoch < time.Minute || in.Epoch > 31*24*time.Hour {
		bad("ingest.epoch", "%s is out of range; use 1m to 744h (default 24h)", in.Epoch)
	} else if in.Epoch%time.Minute != 0 || (24*time.Hour)%in.Epoch != 0 && in.Epoch%(24*time.Hour) != 0 {
		bad("ingest.epoch", "%s must divide a day or be whole days (for example 1h, 6h, 24h, 48h), so epochs align across instances", in.Epoch)
	}
	if in.Grace < 0 || in.Grace > in.Epoch {
		bad("ingest.grace", "%s is out of range; use 0 up to the epoch length (default 1h)", in.Grace)
	}
	if len(in.IdentifierFields) == 0 {
		bad("ingest.identifier_fields", "empty; name the raw fields that identify a visitor, for example [userId, anonymousId]")
	}
	if in.MaxBytes < 256 || in.MaxBytes > 16<<20 {
		bad("ingest.max_bytes", "%d is out of range; use 256 to 16777216 (default 65536)", in.MaxBytes)
	}
	if in.MaxDepth < 3 || in.MaxDepth > 256 {
		bad("ingest.max_depth", "%d is out of range; use 3 to 256 (default 16)", in.MaxDepth)
	}
	if in.MaxFields < 10 || in.MaxFields > 100000 {
		bad("ingest.max_fields", "%d is out of range; use 10 to 100000 (default 1000)", in.MaxFields)
	}
	for _, q := range in.QueryAllowlist {
		if q == "" || q == "*" || strings.Contains(strings.TrimSuffix(q, "*"), "*") {
			bad("ingest.query_allowlist", "%q is not a parameter name or prefix*; a bare * would keep every parameter", q)
		}
	}
	for _, p := range in.PropertyAllowlist {
		if !validProperty.MatchString(p) {
			bad("ingest.property_allowlist", "%q is not a property name (letters, digits, _)", p)
		}
	}
	if in.MaxValueLength < 8 || in.MaxValueLength > 128 {
		bad("ingest.max_value_length", "%d is out of range; use 8 to 128 (default 100)", in.MaxValueLength)
	}
	for i, p := range in.ScrubPatterns {
		if _, err := regexp.Compile(p); err != nil {
			bad("ingest.scrub_patterns", "pattern %d does not compile: %v", i, err)
		}
	}
	if in.Rare.KValues < 1 {
		bad("ingest.rare.k_values", "must be at least 1 (default 10)")
	}
	if in.Rare.Window < time.Hour {
		bad("ingest.rare.window", "%s is too short; use at least 1h (default 168h)", in.Rare.Window)
	}
	for f, pol := range in.Rare.Fields {
		switch pol {
		case "drop", "scrub", "rare", "vocabulary":
		default:
			bad("ingest.rare.fields."+f, "%q is not drop, scrub, rare or vocabulary", pol)
		}
		if pol == "vocabulary" && len(in.Rare.Vocabulary[f]) == 0 {
			bad("ingest.rare.fields."+f, "policy vocabulary needs a list under ingest.rare.vocabulary.%s", f)
		}
	}
	for i, p := range in.Rare.TokenPatterns {
		if _, err := regexp.Compile(p); err != nil {
			bad("ingest.rare.token_patterns", "pattern %d does not compile: %v", i, err)
		}
	}

	ag := c.Aggregate
	if ag.Retention < time.Hour || ag.Retention > 31*24*time.Hour {
		bad("aggregate.retention", "%s is out of range; use 1h to 744h (default 25h)", ag.Retention)
	}
	if len(ag.Windows) == 0 {
		bad("aggregate.windows", "empty; give at least one window such as 5m")
	}
	for _, w := range ag.Windows {
		if w < time.Minute || w%time.Minute != 0 || w > ag.Retention {
			bad("aggregate.windows", "%s must be whole minutes, at least 1m and at most aggregate.retention (%s)", w, ag.Retention)
		}
	}
	if ag.VisitorCache < 100 {
		bad("aggregate.visitor_cache", "%d is too small; use at least 100 (default 200000)", ag.VisitorCache)
	}

	em := c.Emit
	if em.Tick < 100*time.Millisecond {
		bad("emit.tick", "%s is too short; use at least 100ms (default 30s)", em.Tick)
	}
	if em.SnapshotEvery < em.Tick {
		bad("emit.snapshot_every", "%s is shorter than emit.tick (%s); snapshots are taken on ticks", em.SnapshotEvery, em.Tick)
	}
	if em.K < 2 {
		bad("emit.k", "%d is below 2; a figure about one visitor describes a person. Use 2 or more (default 100)", em.K)
	}
	switch em.Noise.Mechanism {
	case "none":
	case "laplace", "geometric":
		if em.Noise.Epsilon <= 0 || em.Noise.Epsilon > 10 {
			bad("emit.noise.epsilon", "%g is out of range; use a value in (0, 10] (default 1.0)", em.Noise.Epsilon)
		}
	default:
		bad("emit.noise.mechanism", "%q is not none, laplace or geometric", em.Noise.Mechanism)
	}
	if em.LeaseTTL < time.Second || em.LeaseTTL > 5*time.Minute {
		bad("emit.lease_ttl", "%s is out of range; use 1s to 5m (default 15s)", em.LeaseTTL)
	}

	if c.HTTP.Listen != "" {
		host, _, err := net.SplitHostPort(c.HTTP.Listen)
		if err != nil {
			bad("http.listen", "%q is not host:port; for example 127.0.0.1:9464", c.HTTP.Listen)
		} else if !c.HTTP.PublicOK && !isLoopback(host) {
			bad("http.listen", "%q is not a loopback address; the endpoints expose figures and health. Set http.public_ok: true to serve on it", c.HTTP.Listen)
		}
	}
	if c.HTTP.ShutdownTimeout < time.Second {
		bad("http.shutdown_timeout", "%s is too short; use at least 1s (default 20s)", c.HTTP.ShutdownTimeout)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		bad("log.format", "%q is not json or console", c.Log.Format)
	}
	return errors.Join(errs...)
}

var (
	validTopic    = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	validProperty = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)
)

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("missing port")
	}
	if host == "" {
		return errors.New("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return errors.New("port must be 1-65535")
	}
	return nil
}

func checkRedisURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse's error repeats the URL, password included: say less.
		return errors.New("not a URL; write redis://[user:password@]host:port/db or rediss:// for TLS")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return fmt.Errorf("scheme %q is not redis or rediss; write redis://host:port/db", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host; write redis://host:port/db")
	}
	if u.Port() != "" {
		if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
			return errors.New("port must be 1-65535")
		}
	}
	for _, a := range u.Query()["addr"] {
		if err := checkHostPort(a); err != nil {
			return fmt.Errorf("cluster node addr=%s: %v", a, err)
		}
	}
	return nil
}

func checkTLS(bad func(string, string, ...any), path string, t TLS) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad(path+".cert_file", "cert_file and key_file go together; give both or neither")
	}
}

// RedactURL hides the password of a URL; an unparsable URL is hidden whole.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL, redacted)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.String()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
