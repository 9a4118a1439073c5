package main

import (
	"context"
	"errors"
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
)

// embedded are the services the demo runs in process.
type embedded struct {
	kafka     *kfake.Cluster
	kafkaAddr string
	regURL    string
	regSrv    *http.Server
	rdb       *redis.Client
	redisDesc string
	mini      *miniredis.Miniredis
}

// startKafka starts a kfake cluster listening on addr, or on a free port
// if addr is taken; extra options go to kfake.
func (e *embedded) startKafka(addr string, log *slog.Logger, extra ...kfake.Opt) error {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: --kafka-listen: %v", errUsage, err)
	}
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(func(network, a string) (net.Listener, error) {
		_, p, _ := net.SplitHostPort(a)
		return net.Listen(network, net.JoinHostPort(host, p))
	})}
	opts = append(opts, extra...)
	c, err := kfake.NewCluster(append(opts, kfake.Ports(port))...)
	if err != nil && port != 0 {
		log.Warn("kafka port taken; using a free one", "wanted", addr, "err", err)
		c, err = kfake.NewCluster(append(opts, kfake.Ports(0))...)
	}
	if err != nil {
		return fmt.Errorf("embedded kafka: %w", err)
	}
	e.kafka, e.kafkaAddr = c, c.ListenAddrs()[0]
	return nil
}

// startRegistry serves a srfake registry on addr, or a free port.
func (e *embedded) startRegistry(addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("registry port taken; using a free one", "wanted", addr, "err", err)
		host, _, _ := net.SplitHostPort(addr)
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return fmt.Errorf("embedded registry: %w", err)
		}
	}
	reg := srfake.NewRegistry()
	e.regSrv = &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.regSrv.Serve(ln) }()
	e.regURL = "http://" + ln.Addr().String()
	return nil
}

// connectRedis uses the Redis at url; with no url, the one on the default
// address if it answers, else an embedded miniredis.
func (e *embedded) connectRedis(ctx context.Context, url string, log *slog.Logger) error {
	if url != "" {
		rdb, err := openRedis(ctx, url, log)
		if err != nil {
			return err
		}
		e.rdb, e.redisDesc = rdb, "Redis at "+rdb.Options().Addr
		return nil
	}
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: 300 * time.Millisecond})
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err := rdb.Ping(pctx).Err()
	cancel()
	if err == nil {
		e.rdb, e.redisDesc = rdb, "Redis at 127.0.0.1:6379"
		return nil
	}
	rdb.Close()
	m, err := miniredis.Run()
	if err != nil {
		return fmt.Errorf("embedded redis: %w", err)
	}
	e.mini = m
	e.rdb, e.redisDesc = redis.NewClient(&redis.Options{Addr: m.Addr()}), "embedded miniredis at "+m.Addr()+" (no Redis at 127.0.0.1:6379)"
	return nil
}

// dropKeys deletes the Redis keys under prefix: the demo's own.
func (e *embedded) dropKeys(ctx context.Context, prefix string) {
	if e.rdb == nil || e.mini != nil {
		return
	}
	it := e.rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	if len(keys) > 0 {
		e.rdb.Del(ctx, keys...)
	}
}

func (e *embedded) close() {
	if e.rdb != nil {
		e.rdb.Close()
	}
	if e.mini != nil {
		e.mini.Close()
	}
	if e.regSrv != nil {
		_ = e.regSrv.Close()
	}
	if e.kafka != nil {
		e.kafka.Close()
	}
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, errors.New("bad port " + p)
	}
	return host, port, nil
}
