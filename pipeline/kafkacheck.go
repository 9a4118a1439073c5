package pipeline

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrKafkaSecurity means the brokers answered but refused the connection's
// security: a SASL login they do not take or that fails, a TLS handshake
// that does not match. It wraps ErrConfig: retrying will not help.
var ErrKafkaSecurity = fmt.Errorf("%w: Kafka connection security", ErrConfig)

// ErrUnreachable means no broker answered at all (nothing listening, or
// nothing in time): perhaps a matter of time, as when smaint starts
// before its brokers.
var ErrUnreachable = errors.New("no Kafka broker answered")

// Check connects to the brokers once, giving up after timeout, and says
// plainly what is wrong: ErrKafkaSecurity for a SASL or TLS mismatch
// (which otherwise shows only as requests timing out), ErrUnreachable when
// nothing answered, nil when a broker took the connection.
func (c KafkaConfig) Check(ctx context.Context, timeout time.Duration) error {
	opts, err := c.Opts()
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.explain(cl.Ping(cctx))
}

// explain turns a first connection's error into one that says what to do.
func (c KafkaConfig) explain(err error) error {
	if err == nil {
		return nil
	}
	brokers := strings.Join(c.Brokers, ",")
	sasl, tlsOn := c.saslMechanism() != nil, c.TLS || c.TLSCAFile != "" || c.TLSCertFile != ""
	var (
		ke       *kerr.Error
		recErr   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		certErr  *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &ke) && (ke == kerr.SaslAuthenticationFailed || ke == kerr.UnsupportedSaslMechanism || ke == kerr.IllegalSaslState):
		return fmt.Errorf("%w: the brokers at %s refused the SASL login (%s): check --sasl-mechanism, --sasl-user and --sasl-password", ErrKafkaSecurity, brokers, ke.Message)
	case errors.As(err, &recErr):
		return fmt.Errorf("%w: the brokers at %s do not speak TLS on this listener: drop --tls, or use their TLS port (%v)", ErrKafkaSecurity, brokers, err)
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &certErr):
		return fmt.Errorf("%w: the brokers' TLS certificate at %s is not trusted: give their CA with --tls-ca, or the name they answer to with --tls-server-name (%v)", ErrKafkaSecurity, brokers, err)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		// Connected, then dropped at once: the listener wanted another
		// kind of connection than the one offered.
		switch {
		case sasl:
			return fmt.Errorf("%w: the broker at %s closed the connection during the SASL login: either it takes no SASL on this listener (use the port of its SASL listener) or it refused the login (check --sasl-mechanism, --sasl-user and --sasl-password)", ErrKafkaSecurity, brokers)
		case !tlsOn:
			return fmt.Errorf("%w: the broker at %s closed the connection at once: a listener that expects TLS (--tls) or SASL (--sasl-mechanism) does that", ErrKafkaSecurity, brokers)
		}
		return fmt.Errorf("%w: the broker at %s closed the TLS connection at once: check it expects TLS on this port, and whether it wants a client certificate (--tls-cert, --tls-key) or SASL", ErrKafkaSecurity, brokers)
	}
	if errors.Is(err, context.DeadlineExceeded) && listening(c.Brokers) && (sasl || tlsOn) {
		// Something listens, but the handshake got no answer: a listener
		// waiting for what a TLS or SASL client never sends.
		handshake, flag := "SASL", "SASL (--sasl-mechanism)"
		if tlsOn {
			handshake, flag = "TLS", "TLS (--tls)"
		}
		return fmt.Errorf("%w: a broker at %s took the connection but never answered the %s handshake: check that it expects %s on this port",
			ErrKafkaSecurity, brokers, handshake, flag)
	}
	return fmt.Errorf("%w at %s: %w", ErrUnreachable, brokers, err)
}

// listening reports whether any of addrs takes a TCP connection.
func listening(addrs []string) bool {
	for _, a := range addrs {
		if conn, err := net.DialTimeout("tcp", a, 2*time.Second); err == nil {
			conn.Close()
			return true
		}
	}
	return false
}
