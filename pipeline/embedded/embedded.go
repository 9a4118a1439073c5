// Package embedded runs, inside the process, the services smaint needs:
// a Kafka broker (franz-go's kfake, which speaks the real protocol), a
// Confluent-compatible schema registry (srfake) and a Redis (miniredis).
// The demo and the benchmark run on them, so that smaint works on a
// machine that has none of the three. Production binaries leave this
// package out (see cmd/smaint's prod build tag).
package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// ErrAddress means a listen address could not be parsed.
var ErrAddress = errors.New("bad listen address")

// Kafka is a one-broker kfake cluster.
type Kafka struct {
	c    *kfake.Cluster
	addr string
}

// StartKafka starts a broker listening on addr ("host:port"), or on a
// free port of the same host when that port is taken (logged to log, if
// not nil). opts go to kfake.
func StartKafka(addr string, log *slog.Logger, opts ...kfake.Opt) (*Kafka, error) {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, err
	}
	base := []kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(func(network, a string) (net.Listener, error) {
		_, p, _ := net.SplitHostPort(a)
		return net.Listen(network, net.JoinHostPort(host, p))
	})}
	base = append(base, opts...)
	c, err := kfake.NewCluster(append(base, kfake.Ports(port))...)
	if err != nil && port != 0 {
		if log != nil {
			log.Warn("kafka port taken; using a free one", "wanted", addr, "err", err)
		}
		c, err = kfake.NewCluster(append(base, kfake.Ports(0))...)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Kafka{c: c, addr: c.ListenAddrs()[0]}, nil
}

// Addr is the broker's address, for clients' seed brokers.
func (k *Kafka) Addr() string { return k.addr }

// Close stops the broker; its records are gone.
func (k *Kafka) Close() { k.c.Close() }

// Registry is a srfake schema registry served over HTTP.
type Registry struct {
	srv *http.Server
	url string
}

// StartRegistry serves a registry on addr, or on a free port of the same
// host when that port is taken (logged to log, if not nil).
func StartRegistry(addr string, log *slog.Logger) (*Registry, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if log != nil {
			log.Warn("registry port taken; using a free one", "wanted", addr, "err", err)
		}
		host, _, _ := net.SplitHostPort(addr)
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return nil, fmt.Errorf("embedded registry: %w", err)
		}
	}
	r := &Registry{srv: &http.Server{Handler: srfake.NewRegistry().Handler(), ReadHeaderTimeout: 5 * time.Second}, url: "http://" + ln.Addr().String()}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// URL is the registry's base URL.
func (r *Registry) URL() string { return r.url }

// Close stops serving.
func (r *Registry) Close() { _ = r.srv.Close() }

// Redis is a miniredis server.
type Redis struct{ m *miniredis.Miniredis }

// StartRedis starts a Redis on a free port of 127.0.0.1.
func StartRedis() (*Redis, error) {
	m, err := miniredis.Run()
	if err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	return &Redis{m: m}, nil
}

// URL is the Redis's redis:// URL.
func (r *Redis) URL() string { return "redis://" + r.m.Addr() }

// Close stops the server; its keys are gone.
func (r *Redis) Close() { r.m.Close() }

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%w %q: %v", ErrAddress, addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%w %q: bad port %s", ErrAddress, addr, p)
	}
	return host, port, nil
}
