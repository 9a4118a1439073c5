package pipeline

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/smaint/smaint/schemas"
)

// SASL mechanisms KafkaConfig accepts.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// KafkaConfig says how to reach the brokers. The zero value is not usable:
// Brokers must be set.
type KafkaConfig struct {
	Brokers []string

	SASLMechanism string // "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	SASLUser      string
	SASLPassword  string

	TLS                   bool   // implied by any other TLS field
	TLSCAFile             string // PEM; empty means the system roots
	TLSCertFile           string // PEM client certificate, with TLSKeyFile
	TLSKeyFile            string
	TLSInsecureSkipVerify bool
	TLSServerName         string

	ClientID string // default "smaint"

	// Registry is the URL of a Confluent-compatible schema registry; with
	// none, records use Avro single-object encoding (see Serde).
	Registry         string
	RegistryUser     string // basic auth, when set
	RegistryPassword string
	// Subjects names the registry subjects (default: <topic>-value).
	Subjects schemas.SubjectStrategy
}

// ErrConfig is wrapped by every configuration error in this package.
var ErrConfig = errors.New("invalid configuration")

// Validate reports the first problem with c, wrapping ErrConfig.
func (c KafkaConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("%w: kafka: no brokers (set --brokers or KAFKA_BROKERS)", ErrConfig)
	}
	for _, b := range c.Brokers {
		if b == "" || strings.ContainsAny(b, " \t/") {
			return fmt.Errorf("%w: kafka: broker %q is not host:port", ErrConfig, b)
		}
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
		if c.SASLUser != "" {
			return fmt.Errorf("%w: kafka: SASL user given without a mechanism", ErrConfig)
		}
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASLUser == "" {
			return fmt.Errorf("%w: kafka: SASL %s needs a user", ErrConfig, c.SASLMechanism)
		}
	default:
		return fmt.Errorf("%w: kafka: unknown SASL mechanism %q (want %s, %s or %s)",
			ErrConfig, c.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return fmt.Errorf("%w: kafka: TLS client certificate and key must be given together", ErrConfig)
	}
	return c.ValidateRegistry()
}

// ValidateRegistry reports a registry URL that is not http(s): the part of
// Validate a command that needs only the registry checks.
func (c KafkaConfig) ValidateRegistry() error {
	if c.Registry != "" && !strings.HasPrefix(c.Registry, "http://") && !strings.HasPrefix(c.Registry, "https://") {
		return fmt.Errorf("%w: registry %q is not an http(s) URL", ErrConfig, c.Registry)
	}
	return nil
}

// Serde returns the Serde of records for c: through the registry when
// one is set, else single-object encoding.
func (c KafkaConfig) Serde() (*schemas.Serde, error) {
	if c.Registry == "" {
		return schemas.NewSerde(), nil
	}
	opts := []sr.ClientOpt{sr.URLs(c.Registry)}
	if c.RegistryUser != "" {
		opts = append(opts, sr.BasicAuth(c.RegistryUser, c.RegistryPassword))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: registry: %w", ErrConfig, err)
	}
	return schemas.NewSerde(schemas.WithRegistry(schemas.NewSRRegistry(cl)), schemas.WithSubjectStrategy(c.Subjects)), nil
}

// Opts returns the franz-go options for c: seed brokers, SASL and TLS.
// It reads certificate files, so errors may come from the file system.
func (c KafkaConfig) Opts() ([]kgo.Opt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	id := c.ClientID
	if id == "" {
		id = "smaint"
	}
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(id)}
	if m := c.saslMechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	if c.TLS || c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSInsecureSkipVerify || c.TLSServerName != "" {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	return opts, nil
}

func (c KafkaConfig) saslMechanism() sasl.Mechanism {
	auth := scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}
	switch strings.ToUpper(c.SASLMechanism) {
	case SASLPlain:
		return plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()
	case SASLScramSHA256:
		return auth.AsSha256Mechanism()
	case SASLScramSHA512:
		return auth.AsSha512Mechanism()
	}
	return nil
}

func (c KafkaConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.TLSInsecureSkipVerify, //nolint:gosec // the operator asked for it
		ServerName:         c.TLSServerName,
	}
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: kafka: TLS CA: %w", ErrConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: kafka: TLS CA %s holds no PEM certificate", ErrConfig, c.TLSCAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: kafka: TLS client certificate: %w", ErrConfig, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
