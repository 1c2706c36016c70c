// Package kafkax is the Kafka adapter of Personas: connection settings
// (SASL, TLS), a producer with the delivery settings the promises need, and a
// consumer-group runner that hands batches of one partition to a processor
// and commits offsets only after the processor says the batch is durable.
//
// It wraps segmentio/kafka-go. Pure stage logic never imports it.
package kafkax

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/personas-dev/personas/internal/config"
)

// Conn is what every Kafka client of the process needs to reach the brokers.
type Conn struct {
	Brokers  []string
	ClientID string
	TLS      *tls.Config
	SASL     sasl.Mechanism
}

// NewConn builds connection settings from the configuration. Errors name
// the setting; they never contain the password.
func NewConn(c config.Kafka) (*Conn, error) {
	conn := &Conn{Brokers: c.Brokers, ClientID: c.ClientID}
	var err error
	if conn.TLS, err = TLSConfig(c.TLS); err != nil {
		return nil, fmt.Errorf("kafka.tls: %w", err)
	}
	switch c.SASL.Mechanism {
	case "":
	case "plain":
		conn.SASL = plain.Mechanism{Username: c.SASL.Username, Password: c.SASL.Password}
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if c.SASL.Mechanism == "scram-sha-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, c.SASL.Username, c.SASL.Password)
		if err != nil {
			return nil, errors.New("kafka.sasl: the SCRAM user name or password is not valid SASLprep text")
		}
		conn.SASL = m
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism: %q is not supported", c.SASL.Mechanism)
	}
	return conn, nil
}

// TLSConfig builds a client TLS configuration; nil when TLS is off.
func TLSConfig(t config.TLS) (*tls.Config, error) {
	if !t.Enabled && t.CAFile == "" && t.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in, documented for tests
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Dialer returns a kafka-go dialer (used by readers and consumer groups).
func (c *Conn) Dialer() *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      c.ClientID,
		Timeout:       10 * time.Second,
		DualStack:     true,
		TLS:           c.TLS,
		SASLMechanism: c.SASL,
		KeepAlive:     30 * time.Second,
	}
}

// Transport returns a kafka-go transport (used by writers and the admin client).
func (c *Conn) Transport() *kafka.Transport {
	return &kafka.Transport{
		ClientID:    c.ClientID,
		DialTimeout: 10 * time.Second,
		IdleTimeout: 60 * time.Second,
		MetadataTTL: 30 * time.Second,
		TLS:         c.TLS,
		SASL:        c.SASL,
	}
}

// Client returns an admin client.
func (c *Conn) Client() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.Brokers...), Timeout: 10 * time.Second, Transport: c.Transport()}
}

// Ping checks that some broker answers a metadata request: the readiness
// probe for Kafka.
func (c *Conn) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := c.Client().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{}})
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("kafka: no broker answers: %w", err)
		}
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// EnsureTopics creates the topics that do not exist yet with the given
// partition count and replication factor. Existing topics are left as they are.
func (c *Conn) EnsureTopics(ctx context.Context, partitions, replication int, topics ...string) error {
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication})
	}
	res, err := c.Client().CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics: %w", err)
	}
	for t, e := range res.Errors {
		if e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return fmt.Errorf("kafka: create topic %s: %w", t, e)
		}
	}
	return nil
}

// Partitions returns the number of partitions of a topic.
func (c *Conn) Partitions(ctx context.Context, topic string) (int, error) {
	res, err := c.Client().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, err
	}
	for _, t := range res.Topics {
		if t.Name == topic {
			if t.Error != nil {
				return 0, t.Error
			}
			return len(t.Partitions), nil
		}
	}
	return 0, fmt.Errorf("kafka: topic %s not found", topic)
}
