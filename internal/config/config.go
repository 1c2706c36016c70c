// Package config loads the settings of a Personas process: a YAML file,
// overridden by PERSONAS_* environment variables, validated at start.
//
// Every setting has a default (documented on its field with a "Default:"
// line), a YAML path (kafka.brokers) and an environment variable
// (PERSONAS_KAFKA_BROKERS), derived from the YAML path. Unknown YAML keys
// and invalid values are errors that name the setting and say how to fix it.
// Secrets (passwords, the Redis URL's password) are redacted by Redacted.
package config

import (
	"time"
)

// Config is the whole configuration of a Personas process.
type Config struct {
	Kafka     Kafka     `yaml:"kafka"`
	Redis     Redis     `yaml:"redis"`
	Ingest    Ingest    `yaml:"ingest"`
	Aggregate Aggregate `yaml:"aggregate"`
	Emit      Emit      `yaml:"emit"`
	HTTP      HTTP      `yaml:"http"`
	Log       Log       `yaml:"log"`
}

// Kafka holds broker, topic and client settings.
type Kafka struct {
	// Brokers is the bootstrap list, host:port each.
	// Default: 127.0.0.1:9092. Env: PERSONAS_KAFKA_BROKERS (comma list).
	Brokers []string `yaml:"brokers"`
	// ClientID names this client in broker logs and quotas.
	// Default: personas.
	ClientID string `yaml:"client_id"`
	// Topics are the topic names.
	Topics Topics `yaml:"topics"`
	// Groups are the consumer-group ids of the consuming stages.
	Groups Groups `yaml:"groups"`
	// Consumer tunes how stages read.
	Consumer Consumer `yaml:"consumer"`
	// Producer tunes how stages write.
	Producer Producer `yaml:"producer"`
	// SASL authenticates to the brokers. Default: off.
	SASL SASL `yaml:"sasl"`
	// TLS encrypts connections to the brokers. Default: off.
	TLS TLS `yaml:"tls"`
	// CreateTopics creates missing topics at start. Default: true.
	CreateTopics bool `yaml:"create_topics"`
	// Partitions is the partition count of topics created at start. The
	// events topic's count bounds how far the aggregate stage scales out.
	// Default: 6.
	Partitions int `yaml:"partitions"`
	// ReplicationFactor of topics created at start. Default: 1.
	ReplicationFactor int `yaml:"replication_factor"`
}

// Topics names every topic the pipeline reads or writes.
type Topics struct {
	// Raw is the clickstream input (holds PII). Default: clickstream.raw.
	Raw string `yaml:"raw"`
	// Events is the anonymized event stream. Default: personas.events.v1.
	Events string `yaml:"events"`
	// SegmentChanges carries segment.entered/exited. Default: personas.segment-changes.v1.
	SegmentChanges string `yaml:"segment_changes"`
	// Snapshots carries periodic persona snapshots. Default: personas.snapshots.v1.
	Snapshots string `yaml:"snapshots"`
	// DLQ holds pointers to rejected input. Default: personas.dlq.v1.
	DLQ string `yaml:"dlq"`
}

// Groups are consumer-group ids.
type Groups struct {
	// Ingest is the ingest stage's group. Default: personas-ingest.
	Ingest string `yaml:"ingest"`
	// Aggregate is the aggregate stage's group. Default: personas-aggregate.
	Aggregate string `yaml:"aggregate"`
}

// Consumer tunes reading.
type Consumer struct {
	// MaxBatch is the most messages handled (and committed) as one batch per
	// partition. Default: 2000.
	MaxBatch int `yaml:"max_batch"`
	// Linger is how long a partition worker waits for more messages before it
	// handles a partial batch. Default: 20ms.
	Linger time.Duration `yaml:"linger"`
	// MaxBytes is the most bytes one fetch returns. Default: 10 MiB.
	MaxBytes int `yaml:"max_bytes"`
	// SessionTimeout is the group session timeout. Default: 10s.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// StartFrom is where a group with no committed offset starts: earliest or
	// latest. Default: earliest.
	StartFrom string `yaml:"start_from"`
}

// Producer tunes writing.
type Producer struct {
	// BatchSize is the most messages per produce request and partition.
	// Default: 2000.
	BatchSize int `yaml:"batch_size"`
	// BatchTimeout is how long a partial batch may wait. Default: 2ms.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// Acks is all (every in-sync replica) or leader. Default: all.
	Acks string `yaml:"acks"`
	// Compression is none, gzip, snappy, lz4 or zstd. Default: lz4.
	Compression string `yaml:"compression"`
}

// SASL settings.
type SASL struct {
	// Mechanism is "", plain, scram-sha-256 or scram-sha-512. Default: "" (off).
	Mechanism string `yaml:"mechanism"`
	// Username for SASL. Default: "".
	Username string `yaml:"username"`
	// Password for SASL (secret). Default: "".
	Password string `yaml:"password" secret:"true"`
}

// TLS settings.
type TLS struct {
	// Enabled turns TLS on. Default: false.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust; empty uses the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables server verification (tests only). Default: false.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Redis settings.
type Redis struct {
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS.
	// Redis Cluster: add more nodes as ?addr=host:port parameters (the form
	// go-redis's ParseClusterURL reads), or name one node: a node that
	// reports cluster_enabled is used as a cluster.
	// Default: redis://127.0.0.1:6379/0. Env: PERSONAS_REDIS_URL.
	URL string `yaml:"url" secret:"url"`
	// KeyPrefix starts every key this process writes. Default: personas:.
	KeyPrefix string `yaml:"key_prefix"`
	// TLS adds a CA file or client certificate to rediss:// connections.
	TLS TLS `yaml:"tls"`
	// Timeout bounds every Redis call. Default: 3s.
	Timeout time.Duration `yaml:"timeout"`
}

// Ingest settings: the privacy transform.
type Ingest struct {
	// Epoch is the pseudonym epoch length. Default: 24h.
	Epoch time.Duration `yaml:"epoch"`
	// Grace is how long an epoch key outlives its epoch, for late events.
	// Default: 1h.
	Grace time.Duration `yaml:"grace"`
	// IdentifierFields are the raw fields tried, in order, for the visitor
	// identifier. Default: [userId, anonymousId, context.device.id].
	IdentifierFields []string `yaml:"identifier_fields"`
	// MaxBytes rejects larger messages. Default: 65536.
	MaxBytes int `yaml:"max_bytes"`
	// MaxDepth rejects deeper JSON nesting. Default: 16.
	MaxDepth int `yaml:"max_depth"`
	// MaxFields rejects messages with more JSON values in all. Default: 1000.
	MaxFields int `yaml:"max_fields"`
	// QueryAllowlist names query parameters kept; a trailing * is a prefix.
	// Default: [utm_*, ref, source].
	QueryAllowlist []string `yaml:"query_allowlist"`
	// PropertyAllowlist names event properties kept (values scrubbed).
	// Default: [category, list_id, currency, price, quantity, value, revenue, total, brand, query].
	PropertyAllowlist []string `yaml:"property_allowlist"`
	// MaxValueLength cuts kept string values. Default: 100.
	MaxValueLength int `yaml:"max_value_length"`
	// BotPatterns are extra case-insensitive substrings of a User-Agent that
	// mark a bot, on top of the UA parser. Default: [].
	BotPatterns []string `yaml:"bot_patterns"`
	// Mapping maps other input shapes onto the raw shape: raw field path ->
	// input field path (dot-separated). Default: {} (input is Segment-shaped).
	Mapping map[string]string `yaml:"mapping"`
	// ScrubPatterns are extra regular expressions whose matches are scrubbed
	// as [custom]. Default: [].
	ScrubPatterns []string `yaml:"scrub_patterns"`
	// Rare configures rare-value suppression (P6).
	Rare Rare `yaml:"rare"`
}

// Rare configures rare-value suppression: open-ended values are published
// only after enough distinct visitors sent them.
type Rare struct {
	// KValues is how many distinct pseudonyms must send a value before it is
	// published. Default: 10.
	KValues int `yaml:"k_values"`
	// Window is how long sightings count. Default: 168h (7 days).
	Window time.Duration `yaml:"window"`
	// Fields sets the policy per field: drop, scrub, rare or vocabulary.
	// Field keys: event, path, query, query.<param>, search, referrer,
	// campaign, campaign.<source|medium|name>, properties,
	// properties.<name>. Default: rare for all (vocabulary for a field whose
	// vocabulary is configured). Page titles are never kept.
	Fields map[string]string `yaml:"fields"`
	// KPerField overrides KValues per field. Default: {}.
	KPerField map[string]int `yaml:"k_per_field"`
	// Vocabulary lists values published at once, per field. Configuring a
	// field's vocabulary makes its default policy vocabulary. Default: the
	// web-shop taxonomy of the default persona model (with policy rare).
	Vocabulary map[string][]string `yaml:"vocabulary"`
	// TokenPatterns are extra regular expressions for machine-made values
	// (codes, ids), masked before counting. Default: [].
	TokenPatterns []string `yaml:"token_patterns"`
	// Enabled turns rare-value suppression on. Default: true.
	Enabled bool `yaml:"enabled"`
}

// Aggregate settings.
type Aggregate struct {
	// Model is a path to the persona model (personas.yaml); empty uses the
	// built-in web-shop model. Default: "".
	Model string `yaml:"model"`
	// Retention is how long minute buckets are kept. Default: 25h.
	Retention time.Duration `yaml:"retention"`
	// Windows are the rolling windows figures are read over.
	// Default: [5m, 1h, 24h].
	Windows []time.Duration `yaml:"windows"`
	// VisitorCache is the most visitor states kept in memory per process.
	// Default: 200000.
	VisitorCache int `yaml:"visitor_cache"`
}

// Emit settings.
type Emit struct {
	// Segments is a path to the segment definitions; empty uses the built-in
	// set. Default: "".
	Segments string `yaml:"segments"`
	// Tick is how often segments are evaluated. Default: 30s.
	Tick time.Duration `yaml:"tick"`
	// SnapshotEvery is how often snapshots are published. Default: 1m.
	SnapshotEvery time.Duration `yaml:"snapshot_every"`
	// K is the smallest crowd a published figure may describe (never below 2).
	// Default: 100.
	K int `yaml:"k"`
	// Noise adds calibrated noise to published counts. Default: none.
	Noise Noise `yaml:"noise"`
	// LeaseTTL is how long the evaluation lease lasts without renewal.
	// Default: 15s.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
}

// Noise settings.
type Noise struct {
	// Mechanism is none, laplace or geometric. Default: none.
	Mechanism string `yaml:"mechanism"`
	// Epsilon is the privacy parameter per published count. Default: 1.0.
	Epsilon float64 `yaml:"epsilon"`
}

// HTTP settings: /healthz, /readyz, /metrics and the dashboard.
type HTTP struct {
	// Listen is host:port; empty turns the server off. Only loopback unless
	// PublicOK is set. Default: 127.0.0.1:9464.
	Listen string `yaml:"listen"`
	// PublicOK allows a non-loopback Listen address. Default: false.
	PublicOK bool `yaml:"public_ok"`
	// ShutdownTimeout bounds graceful shutdown. Default: 20s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
}

// Log settings.
type Log struct {
	// Level is debug, info, warn or error. Default: info.
	Level string `yaml:"level"`
	// Format is json or console. Default: json.
	Format string `yaml:"format"`
}

// Default returns the configuration with every default filled in.
func Default() Config {
	return Config{
		Kafka: Kafka{
			Brokers:  []string{"127.0.0.1:9092"},
			ClientID: "personas",
			Topics: Topics{
				Raw:            "clickstream.raw",
				Events:         "personas.events.v1",
				SegmentChanges: "personas.segment-changes.v1",
				Snapshots:      "personas.snapshots.v1",
				DLQ:            "personas.dlq.v1",
			},
			Groups:            Groups{Ingest: "personas-ingest", Aggregate: "personas-aggregate"},
			Consumer:          Consumer{MaxBatch: 2000, Linger: 20 * time.Millisecond, MaxBytes: 10 << 20, SessionTimeout: 10 * time.Second, StartFrom: "earliest"},
			Producer:          Producer{BatchSize: 2000, BatchTimeout: 2 * time.Millisecond, Acks: "all", Compression: "lz4"},
			CreateTopics:      true,
			Partitions:        6,
			ReplicationFactor: 1,
		},
		Redis: Redis{URL: "redis://127.0.0.1:6379/0", KeyPrefix: "personas:", Timeout: 3 * time.Second},
		Ingest: Ingest{
			Epoch:             24 * time.Hour,
			Grace:             time.Hour,
			IdentifierFields:  []string{"userId", "anonymousId", "context.device.id"},
			MaxBytes:          64 << 10,
			MaxDepth:          16,
			MaxFields:         1000,
			QueryAllowlist:    []string{"utm_*", "ref", "source"},
			PropertyAllowlist: []string{"category", "list_id", "currency", "price", "quantity", "value", "revenue", "total", "brand", "query"},
			MaxValueLength:    100,
			Rare:              Rare{KValues: 10, Window: 7 * 24 * time.Hour, Enabled: true},
		},
		Aggregate: Aggregate{
			Retention:    25 * time.Hour,
			Windows:      []time.Duration{5 * time.Minute, time.Hour, 24 * time.Hour},
			VisitorCache: 200000,
		},
		Emit: Emit{
			Tick:          30 * time.Second,
			SnapshotEvery: time.Minute,
			K:             100,
			Noise:         Noise{Mechanism: "none", Epsilon: 1.0},
			LeaseTTL:      15 * time.Second,
		},
		HTTP: HTTP{Listen: "127.0.0.1:9464", ShutdownTimeout: 20 * time.Second},
		Log:  Log{Level: "info", Format: "json"},
	}
}
