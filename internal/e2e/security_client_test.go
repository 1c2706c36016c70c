package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/personas-dev/personas/internal/config"
	"github.com/personas-dev/personas/internal/kafkax"
	"github.com/personas-dev/personas/internal/redisx"
)

// TestSecurityClientConfig checks the client side of what the servers of
// this test suite cannot show: a Redis Cluster over TLS with an ACL user
// (the secured Redis here is standalone; the test cluster has no TLS),
// the TLS floor, insecure_skip_verify, and that configuration errors name
// the setting without repeating a secret. No server is contacted.
func TestSecurityClientConfig(t *testing.T) {
	const pw = "s3cret-CANARY-client-7c21"
	dir := t.TempDir()
	ca, cert, key := writeTestPKI(t, dir)

	t.Run("Redis Cluster URL over TLS with an ACL user and a CA file", func(t *testing.T) {
		cfg := config.Default().Redis
		cfg.URL = "rediss://personas:" + pw + "@10.0.0.1:7001?addr=10.0.0.2:7001&addr=10.0.0.3:7001"
		cfg.TLS = config.TLS{CAFile: ca, CertFile: cert, KeyFile: key}
		c, err := redisx.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cc, ok := c.(*redis.ClusterClient)
		if !ok {
			t.Fatalf("a URL with addr= parameters gave %T, not a cluster client", c)
		}
		o := cc.Options()
		if o.Username != "personas" || o.Password != pw || len(o.Addrs) != 3 {
			t.Errorf("cluster options: user %q, %d addrs", o.Username, len(o.Addrs))
		}
		checkTLS(t, o.TLSConfig, "10.0.0.1", true)
	})
	t.Run("standalone rediss URL with a CA file", func(t *testing.T) {
		cfg := config.Default().Redis
		cfg.URL = "rediss://personas:" + pw + "@127.0.0.1:1/0"
		cfg.Timeout = 50 * time.Millisecond
		cfg.TLS = config.TLS{CAFile: ca}
		c, err := redisx.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		o := c.(*redis.Client).Options()
		if o.Username != "personas" || o.Password != pw {
			t.Errorf("credentials not taken from the URL")
		}
		checkTLS(t, o.TLSConfig, "127.0.0.1", false)
	})
	t.Run("Kafka TLS and SASL client settings", func(t *testing.T) {
		for _, mech := range []string{"plain", "scram-sha-256", "scram-sha-512"} {
			kc := config.Default().Kafka
			kc.SASL = config.SASL{Mechanism: mech, Username: "alice", Password: pw}
			kc.TLS = config.TLS{Enabled: true, CAFile: ca, CertFile: cert, KeyFile: key}
			conn, err := kafkax.NewConn(kc)
			if err != nil {
				t.Fatal(err)
			}
			if conn.SASL == nil || !strings.EqualFold(conn.SASL.Name(), strings.ReplaceAll(mech, "plain", "PLAIN")) {
				t.Errorf("%s: SASL mechanism %v", mech, conn.SASL)
			}
			checkTLS(t, conn.TLS, "", true)
			if d := conn.Dialer(); d.TLS != conn.TLS || d.SASLMechanism != conn.SASL {
				t.Errorf("%s: the dialer (consumers) does not carry TLS and SASL", mech)
			}
			if tr := conn.Transport(); tr.TLS != conn.TLS || tr.SASL != conn.SASL {
				t.Errorf("%s: the transport (producers, admin) does not carry TLS and SASL", mech)
			}
		}
		kc := config.Default().Kafka
		kc.TLS = config.TLS{Enabled: true, InsecureSkipVerify: true}
		conn, err := kafkax.NewConn(kc)
		if err != nil || conn.TLS == nil || !conn.TLS.InsecureSkipVerify {
			t.Errorf("insecure_skip_verify not applied: %v", err)
		}
		kc.TLS = config.TLS{}
		if conn, _ := kafkax.NewConn(kc); conn.TLS != nil || conn.SASL != nil {
			t.Errorf("TLS or SASL on without settings")
		}
	})
	t.Run("errors name the setting, never the secret", func(t *testing.T) {
		bad := []struct {
			what string
			err  func() error
		}{
			{"redis URL that does not parse", func() error {
				cfg := config.Default().Redis
				cfg.URL = "rediss://personas:" + pw + "@[::1:6379/0"
				_, err := redisx.Open(context.Background(), cfg)
				return err
			}},
			{"redis CA file missing", func() error {
				cfg := config.Default().Redis
				cfg.URL = "rediss://personas:" + pw + "@127.0.0.1:1/0"
				cfg.TLS.CAFile = filepath.Join(dir, "missing.pem")
				_, err := redisx.Open(context.Background(), cfg)
				return err
			}},
			{"kafka CA file not PEM", func() error {
				kc := config.Default().Kafka
				kc.SASL = config.SASL{Mechanism: "plain", Username: "alice", Password: pw}
				kc.TLS = config.TLS{Enabled: true, CAFile: key + ".nope"}
				_ = os.WriteFile(kc.TLS.CAFile, []byte(pw), 0o600)
				_, err := kafkax.NewConn(kc)
				return err
			}},
			{"kafka unknown SASL mechanism", func() error {
				kc := config.Default().Kafka
				kc.SASL = config.SASL{Mechanism: "gssapi", Username: "alice", Password: pw}
				_, err := kafkax.NewConn(kc)
				return err
			}},
			{"kafka SCRAM password not SASLprep text", func() error {
				kc := config.Default().Kafka
				kc.SASL = config.SASL{Mechanism: "scram-sha-512", Username: "alice", Password: pw + "\u0007"}
				_, err := kafkax.NewConn(kc)
				return err
			}},
			{"validation of a bad configuration", func() error {
				c := config.Default()
				c.Kafka.SASL = config.SASL{Mechanism: "scram-sha-1", Password: pw}
				c.Redis.URL = "redis://personas:" + pw + "@127.0.0.1:99999/0"
				return c.Validate()
			}},
		}
		for _, b := range bad {
			err := b.err()
			if err == nil {
				t.Errorf("%s: no error", b.what)
				continue
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "CANARY") {
				t.Errorf("%s: error repeats the secret: %v", b.what, err)
			}
			t.Logf("%s: %v", b.what, err)
		}
	})
}

func checkTLS(t *testing.T, c *tls.Config, serverName string, clientCert bool) {
	t.Helper()
	if c == nil {
		t.Fatal("no TLS configuration")
	}
	if c.RootCAs == nil {
		t.Error("the CA file is not in the TLS configuration")
	}
	if c.InsecureSkipVerify {
		t.Error("server verification is off")
	}
	if c.MinVersion < tls.VersionTLS12 {
		t.Errorf("TLS floor %x is below TLS 1.2", c.MinVersion)
	}
	if serverName != "" && c.ServerName != serverName {
		t.Errorf("server name %q, want %q (the host of the URL)", c.ServerName, serverName)
	}
	if clientCert && len(c.Certificates) != 1 {
		t.Errorf("client certificate not loaded")
	}
}

// writeTestPKI writes a CA certificate and a client certificate and key
// (PEM) to dir.
func writeTestPKI(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	clKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	clDER, err := x509.CreateCertificate(rand.Reader, clTmpl, caTmpl, &clKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(clKey)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("client.pem", "CERTIFICATE", clDER), write("client.key", "EC PRIVATE KEY", keyDER)
}
