package pipeline_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// A SASL or TLS mismatch shows at start as an error that says so, within
// the check's timeout, rather than as requests that time out forever.
func TestKafkaCheckSaysWhatIsWrong(t *testing.T) {
	plainBroker := pipelinetest.Cluster(t).ListenAddrs()
	saslBroker := pipelinetest.Cluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "secret")).ListenAddrs()
	tests := []struct {
		name string
		cfg  pipeline.KafkaConfig
		is   error // nil: no error
		says string
	}{
		{"plain to plain", pipeline.KafkaConfig{Brokers: plainBroker}, nil, ""},
		{"SASL to a broker without it", pipeline.KafkaConfig{Brokers: plainBroker, SASLMechanism: "PLAIN", SASLUser: "u", SASLPassword: "p"},
			pipeline.ErrKafkaSecurity, "takes no SASL on this listener"},
		{"a wrong password", pipeline.KafkaConfig{Brokers: saslBroker, SASLMechanism: "PLAIN", SASLUser: "admin", SASLPassword: "guess"},
			pipeline.ErrKafkaSecurity, "refused the login"},
		{"the right password", pipeline.KafkaConfig{Brokers: saslBroker, SASLMechanism: "PLAIN", SASLUser: "admin", SASLPassword: "secret"}, nil, ""},
		{"TLS to a plaintext listener", pipeline.KafkaConfig{Brokers: plainBroker, TLS: true}, pipeline.ErrKafkaSecurity, "expects TLS (--tls) on this port"},
		{"nothing listening", pipeline.KafkaConfig{Brokers: []string{"127.0.0.1:1"}}, pipeline.ErrUnreachable, "127.0.0.1:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A handshake that gets no answer always runs out the timeout:
			// that case gets a short one; the others, which end as soon as
			// the broker answers, a long one, so a slow machine is no matter.
			timeout := time.Minute
			if tc.cfg.TLS {
				timeout = 2 * time.Second
			}
			err := tc.cfg.Check(pipelinetest.Context(t), timeout)
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Check: %v; want %v saying %q", err, tc.is, tc.says)
			}
		})
	}
}
