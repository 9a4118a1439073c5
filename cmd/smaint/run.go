package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"runtime/pprof"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smaint/smaint/pipeline"
)

func runCmd(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("run", "Usage: smaint run --brokers HOST:PORT [flags]\n\nRuns pipeline stages, each in its own consumer group, until SIGINT or SIGTERM;\nthen drains, commits and exits.\n", stderr)
	var (
		kf   kafkaFlags
		sf   stageFlags
		lf   logFlags
		addr string
		prof string
		dbg  string
	)
	kf.register(fs)
	sf.register(fs)
	lf.register(fs, "info")
	fs.StringVar(&addr, "http", ":9090", "address of the /metrics, /healthz and /readyz endpoints")
	fs.StringVar(&prof, "cpuprofile", "", "write a CPU profile (pprof) of the whole run to this file")
	fs.StringVar(&dbg, "pprof", "", "serve Go's /debug/pprof on this address (e.g. 127.0.0.1:6060); off by default")
	if err := fs.parse(args); err != nil {
		return err
	}
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := kf.validate(); err != nil {
		return err
	}
	if err := sf.validate(); err != nil {
		return err
	}
	d, base, err := setup(&kf, &lf, stderr)
	if err != nil {
		return err
	}
	log := d.log
	if dbg != "" {
		ln, err := net.Listen("tcp", dbg)
		if err != nil {
			return fmt.Errorf("--pprof: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	var rdb redis.UniversalClient
	if sf.dedupe.redisURL != "" {
		c, err := openRedis(ctx, sf.dedupe.redisURL, log)
		if err != nil {
			return err
		}
		defer c.Close()
		rdb = c
	} else {
		log.Warn("no --redis: dedupe is local to this process (duplicates across instances and restarts may pass)")
	}
	runners, err := sf.build(ctx, d, base, rdb)
	defer sf.close()
	if err != nil {
		return err
	}
	srv, err := pipeline.NewServer(addr, d.reg, d.health, log)
	if err != nil {
		return err
	}
	log.Info("smaint running", "stages", sf.names.String(), "brokers", kf.brokers.String(), "http", srv.Addr(), "registry", kf.registry)
	return runAll(ctx, append(runners, srv)...)
}
