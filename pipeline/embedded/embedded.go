// Package embedded runs, inside the process, the services smaint needs:
// a Kafka broker (franz-go's kfake, which speaks the real protocol), a
// Confluent-compatible schema registry (srfake) and a Redis (miniredis).
// The demo and the benchmark run on them, so that smaint works on a
// machine that has none of the three. Production binaries leave this
// package out (see cmd/smaint's prod build tag).
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/smaint/smaint/pipeline"
)

// Options say where the services listen. The zero value puts each on a
// free port of 127.0.0.1 and uses the Redis on 127.0.0.1:6379 if one
// answers.
type Options struct {
	KafkaListen    string      // default 127.0.0.1:0; a free port if taken
	RegistryListen string      // default 127.0.0.1:0; a free port if taken
	KafkaOpts      []kfake.Opt // more options for the broker
	// Brokers, if set, are a Kafka cluster to use instead: no broker and
	// no registry are started.
	Brokers []string
	// RedisURL, if set, is used as it is; else the Redis on the default
	// address if it answers, else one started here.
	RedisURL string
	// KeyPrefix, if set, starts the Redis keys of the run (Services.
	// RedisPrefix), which Close deletes: the Redis may be shared.
	KeyPrefix string
	Logger    *slog.Logger // where taken ports are logged; nil: nowhere
}

// Services are a broker, a registry and a Redis for one process's run.
type Services struct {
	Brokers     []string
	RegistryURL string // "" with Options.Brokers
	RedisURL    string
	// Redis says for people which Redis it is.
	Redis string
	// ID is random, for the names of this run's groups and keys.
	ID string
	// RedisPrefix is Options.KeyPrefix, then ID and a colon.
	RedisPrefix string
	closers     []func()
}

// DefaultRedisURL is where Start looks for a Redis before starting one.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// Start starts the broker and the registry and settles on a Redis.
func Start(ctx context.Context, o Options) (*Services, error) {
	if o.KafkaListen == "" {
		o.KafkaListen = "127.0.0.1:0"
	}
	if o.RegistryListen == "" {
		o.RegistryListen = "127.0.0.1:0"
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	s := &Services{Brokers: o.Brokers, ID: hex.EncodeToString(id)}
	s.RedisPrefix = o.KeyPrefix + s.ID + ":"
	if len(o.Brokers) == 0 {
		k, err := StartKafka(o.KafkaListen, o.Logger, o.KafkaOpts...)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, k.Close)
		reg, err := StartRegistry(o.RegistryListen, o.Logger)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.closers = append(s.closers, reg.Close)
		s.Brokers, s.RegistryURL = []string{k.Addr()}, reg.URL()
	}
	switch {
	case o.RedisURL != "":
		s.RedisURL, s.Redis = o.RedisURL, "Redis at "+redisAddr(o.RedisURL)
	case redisAnswers(ctx, DefaultRedisURL):
		s.RedisURL, s.Redis = DefaultRedisURL, "Redis at 127.0.0.1:6379"
	default:
		r, err := StartRedis()
		if err != nil {
			s.Close()
			return nil, err
		}
		s.closers = append(s.closers, r.Close)
		s.RedisURL, s.Redis = r.URL(), "embedded miniredis at "+r.m.Addr()+" (no Redis at 127.0.0.1:6379)"
	}
	if o.KeyPrefix != "" {
		s.closers = append(s.closers, func() { dropKeys(s.RedisURL, s.RedisPrefix) })
	}
	return s, nil
}

// dropKeys deletes the keys under prefix in the Redis at url.
func dropKeys(url, prefix string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if len(keys) > 0 {
		rdb.Del(ctx, keys...)
	}
}

// Close stops what Start started, and deletes the run's Redis keys.
func (s *Services) Close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
}

// redisAddr is where the Redis of url is, for people: without the
// password a URL may hold.
func redisAddr(url string) string {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return "(unparsable URL)"
	}
	return opt.Addr
}

func redisAnswers(ctx context.Context, url string) bool {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return false
	}
	opt.DialTimeout = 300 * time.Millisecond
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	return rdb.Ping(pctx).Err() == nil
}

// ErrAddress means a listen address could not be parsed. It wraps
// pipeline.ErrConfig.
var ErrAddress = fmt.Errorf("%w: listen address", pipeline.ErrConfig)

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
