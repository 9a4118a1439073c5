package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/httpapi"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/sinks/timescale"
	"github.com/smaint/smaint/stages/dedupe"
)

const serveUsage = `Usage: smaint serve --brokers HOST:PORT --api-keys-file FILE [flags]
       smaint serve newkey NAME SCOPES [RATE[/BURST]]

Serves the HTTP API (see /v1/openapi.yaml, or pipeline/httpapi/openapi.yaml):
POST /v1/readings writes readings to the readings topic, as any Kafka
producer would; GET /v1/sensors/{id} and /v1/alerts read the database
(--database-url); GET /v1/health says whether the process is ready.

"newkey" makes an API key: it prints the key, for the client, and the line
for the server's keys (--api-keys-file, or SMAINT_API_KEYS), which holds
only the key's hash. SCOPES is read, write or read,write; RATE is requests
per second (0: no limit; default 100).
`

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "newkey" {
		return newKeyCmd(args[1:], stdout)
	}
	fs := newFlagSet("serve", serveUsage, stderr)
	var (
		kf        kafkaFlags
		lf        logFlags
		db        dbFlags
		af        apiFlags
		check     = dedupe.Config{}.WithDefaults()
		addr      string
		httpToken string
	)
	kf.register(fs)
	lf.register(fs, "info")
	db.register(fs)
	validationFlags(fs, &check)
	af.register(fs, "listen", ":8080", "address the API listens on")
	fs.StringVar(&addr, "http", ":9090", "address of the operator endpoints: /metrics, /healthz, /readyz")
	fs.StringVar(&httpToken, "http-token", "", "callers presenting it read /readyz's details from anywhere (see smaint run)")
	fs.secret("http-token")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := firstErr(kf.validate(), af.validate()); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	d, opts, err := kf.connect(log)
	if err != nil {
		return err
	}
	if err := kf.check(ctx, log); err != nil {
		return err
	}
	all := &wiring{}
	defer all.close()
	api, err := af.start(ctx, d, opts, check.Check, db, log, all)
	if err != nil {
		return err
	}
	ops, err := pipeline.NewServer(addr, d.reg, d.health, log)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	ops.RevealTo(httpToken)
	log.Info("smaint API serving", "listen", af.addr, "http", ops.Addr(), "keys", af.cfg.Keys.Len(), "topic", d.topics.Readings)
	return pipeline.RunAll(ctx, api, ops)
}

// apiFlags configure the HTTP API, in serve and in run (--api).
type apiFlags struct {
	listen string // --listen or --api; "" is off
	keys   string
	cfg    httpapi.Config
	addr   string // where it listens, once started
}

func (f *apiFlags) register(fs *flagSet, listenFlag, listenDefault, listenHelp string) {
	f.cfg = httpapi.Config{}.WithDefaults()
	fs.StringVar(&f.listen, listenFlag, listenDefault, listenHelp)
	fs.StringVar(&f.keys, "api-keys", "", "the HTTP API's keys, one per line or ';': NAME SCOPES RATE sha256:HEX, as smaint serve newkey prints them")
	fs.secret("api-keys")
	fs.Int64Var(&f.cfg.MaxBodyBytes, "max-body-bytes", f.cfg.MaxBodyBytes, "HTTP API: largest request body; larger: 413")
	fs.IntVar(&f.cfg.MaxReadings, "max-readings", f.cfg.MaxReadings, "HTTP API: most readings in one POST; more: 413")
	fs.DurationVar(&f.cfg.Timeout, "request-timeout", f.cfg.Timeout, "HTTP API: longest a request may take, waiting for the brokers included; longer: 503")
	fs.IntVar(&f.cfg.MaxInFlight, "max-in-flight", f.cfg.MaxInFlight, "HTTP API: requests served at once; more are refused with 503 and Retry-After (not queued)")
}

// validate parses the keys and checks the API's configuration, before
// anything connects. Without an address the API is off and nothing is
// checked.
func (f *apiFlags) validate() error {
	if f.listen == "" {
		return nil
	}
	ks, err := httpapi.ParseKeys(strings.NewReader(f.keys))
	if err != nil {
		return fmt.Errorf("--api-keys: %w", err)
	}
	c := f.cfg
	c.Keys, c.Write = ks, func(context.Context, []schemas.SensorReading, string) error { return nil }
	if err := c.Validate(); err != nil {
		return err
	}
	f.cfg.Keys = ks
	return nil
}

// start connects the API to d's readings topic and, when db is given, to
// the database, and listens; it returns what serves it, and leaves on all
// what to close once that stopped. Call validate first.
func (f *apiFlags) start(ctx context.Context, d *deps, opts []pipeline.Option, check func(*schemas.SensorReading, int, time.Time) error,
	db dbFlags, log *slog.Logger, all *wiring) (pipeline.Service, error) {
	write, closeW, watch, err := readingsWriter(ctx, d, opts)
	if err != nil {
		return nil, err
	}
	all.closers = append(all.closers, closeW)
	c := f.cfg
	c.Write, c.Check, c.Health, c.Registerer, c.Logger = write, check, d.health, d.reg, log.With("component", "api")
	if db.given() {
		pool, err := db.connect(ctx, "smaint-api")
		if err != nil {
			return nil, err
		}
		all.closers = append(all.closers, pool.Close)
		c.State = timescale.State{Pool: pool}
	} else {
		log.Warn("no --database-url: the HTTP API's GET /v1/sensors and /v1/alerts answer 503")
	}
	a, err := httpapi.New(c)
	if err != nil {
		return nil, err
	}
	srv, err := a.Listen(f.listen)
	if err != nil {
		return nil, fmt.Errorf("HTTP API on %s: %w", f.listen, err)
	}
	f.addr = srv.Addr()
	return pipeline.ServiceFunc(func(ctx context.Context) error { return pipeline.RunAll(ctx, srv, watch) }), nil
}

// readingsWriter returns the API's Write on d's readings topic (bound
// within 30 s), what closes it, and a service that keeps the health
// component api/kafka at whether a broker answers (asked every 5 s). A
// write carries each reading's id and the request's id in headers. A
// failed write does not touch the health: it may be the request's own
// deadline, after a client that sent its body slowly.
func readingsWriter(ctx context.Context, d *deps, opts []pipeline.Option) (func(context.Context, []schemas.SensorReading, string) error, func(), pipeline.Service, error) {
	prod, err := pipeline.NewProducer(opts...)
	if err != nil {
		return nil, nil, nil, err
	}
	out := pipeline.NewOutput[*schemas.SensorReading](d.topics.Readings)
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = prod.Bind(bctx, out)
	cancel()
	if err != nil {
		prod.Close()
		return nil, nil, nil, fmt.Errorf("the readings topic %s: %w", d.topics.Readings, err)
	}
	d.health.Set("api/kafka", true, "")
	key := func(r *schemas.SensorReading) string { return r.SensorID }
	id := func(r *schemas.SensorReading) []pipeline.Header {
		return []pipeline.Header{{Key: pipeline.HeaderReadingID, Value: []byte(r.ReadingID)}}
	}
	write := func(ctx context.Context, rs []schemas.SensorReading, requestID string) error {
		ptrs := make([]*schemas.SensorReading, len(rs))
		for i := range rs {
			ptrs[i] = &rs[i]
		}
		return pipeline.Write(ctx, prod, out, key, id, []pipeline.Header{{Key: pipeline.HeaderRequestID, Value: []byte(requestID)}}, ptrs)
	}
	watch := pipeline.ServiceFunc(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Second):
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := prod.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				d.health.Set("api/kafka", false, "no broker answers: "+err.Error())
			} else {
				d.health.Set("api/kafka", true, "")
			}
		}
	})
	return write, prod.Close, watch, nil
}

func newKeyCmd(args []string, stdout io.Writer) error {
	if len(args) < 2 || len(args) > 3 {
		return fmt.Errorf("%w: want smaint serve newkey NAME SCOPES [RATE]", errUsage)
	}
	rate := "100"
	if len(args) == 3 {
		rate = args[2]
	}
	secret, line, err := httpapi.NewKey(args[0], args[1], rate)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "key (give it to the client; it is not stored anywhere):\n  %s\nline for --api-keys-file or SMAINT_API_KEYS:\n  %s\n", secret, line)
	return nil
}
