package pipeline_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

func TestKafkaConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  pipeline.KafkaConfig
		ok   bool
	}{
		{"plain brokers", pipeline.KafkaConfig{Brokers: []string{"a:9092", "b:9092"}}, true},
		{"no brokers", pipeline.KafkaConfig{}, false},
		{"url not host:port", pipeline.KafkaConfig{Brokers: []string{"kafka://a:9092"}}, false},
		{"sasl without user", pipeline.KafkaConfig{Brokers: []string{"a:1"}, SASLMechanism: "PLAIN"}, false},
		{"user without sasl", pipeline.KafkaConfig{Brokers: []string{"a:1"}, SASLUser: "u"}, false},
		{"unknown mechanism", pipeline.KafkaConfig{Brokers: []string{"a:1"}, SASLMechanism: "KERBEROS", SASLUser: "u"}, false},
		{"lower-case mechanism", pipeline.KafkaConfig{Brokers: []string{"a:1"}, SASLMechanism: "scram-sha-512", SASLUser: "u"}, true},
		{"cert without key", pipeline.KafkaConfig{Brokers: []string{"a:1"}, TLSCertFile: "c"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, pipeline.ErrConfig)) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := (pipeline.KafkaConfig{Brokers: []string{"a:1"}, TLSCAFile: "/nonexistent/ca.pem"}).Opts(); !errors.Is(err, pipeline.ErrConfig) {
		t.Fatalf("missing CA file: %v", err)
	}
}

// ping checks that a client built from cfg can talk to the cluster.
func ping(t *testing.T, cfg pipeline.KafkaConfig) error {
	t.Helper()
	opts, err := cfg.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return pipeline.EnsureTopics(pipelinetest.Context(t), cl, 1, 1, "ping")
}

func TestSASLMechanisms(t *testing.T) {
	c := pipelinetest.Cluster(t, kfake.EnableSASL(),
		kfake.Superuser(pipeline.SASLPlain, "plain-user", "p1"),
		kfake.Superuser(pipeline.SASLScramSHA256, "scram256", "p2"),
		kfake.Superuser(pipeline.SASLScramSHA512, "scram512", "p3"))
	addrs := c.ListenAddrs()
	for _, tc := range []struct{ mech, user, pass string }{
		{pipeline.SASLPlain, "plain-user", "p1"},
		{pipeline.SASLScramSHA256, "scram256", "p2"},
		{pipeline.SASLScramSHA512, "scram512", "p3"},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			if err := ping(t, pipeline.KafkaConfig{Brokers: addrs, SASLMechanism: tc.mech, SASLUser: tc.user, SASLPassword: tc.pass}); err != nil {
				t.Fatalf("good credentials refused: %v", err)
			}
			if err := ping(t, pipeline.KafkaConfig{Brokers: addrs, SASLMechanism: tc.mech, SASLUser: tc.user, SASLPassword: "wrong"}); err == nil {
				t.Fatal("wrong password accepted")
			}
		})
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCert := selfSigned(t, dir)
	c := pipelinetest.Cluster(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}))
	addrs := c.ListenAddrs()
	if err := ping(t, pipeline.KafkaConfig{Brokers: addrs, TLSCAFile: caFile}); err != nil {
		t.Fatalf("TLS with the right CA: %v", err)
	}
	if err := ping(t, pipeline.KafkaConfig{Brokers: addrs, TLS: true}); err == nil {
		t.Fatal("an unknown CA was trusted")
	}
	if err := ping(t, pipeline.KafkaConfig{Brokers: addrs, TLS: true, TLSInsecureSkipVerify: true}); err != nil {
		t.Fatalf("TLS without verification: %v", err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and returns the
// file holding it (the CA, for clients) and the server's key pair.
func selfSigned(t *testing.T, dir string) (string, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca, pair
}
