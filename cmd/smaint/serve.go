package main

import (
	"context"
	"fmt"
	"io"
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
		check     dedupe.Config
		api       httpapi.Config
		keys      string
		listen    string
		addr      string
		httpToken string
	)
	kf.register(fs)
	lf.register(fs, "info")
	db.register(fs)
	check = dedupe.Config{}.WithDefaults()
	validationFlags(fs, &check)
	api = httpapi.Config{}.WithDefaults()
	fs.StringVar(&listen, "listen", ":8080", "address the API listens on")
	fs.StringVar(&addr, "http", ":9090", "address of the operator endpoints: /metrics, /healthz, /readyz")
	fs.StringVar(&httpToken, "http-token", "", "callers presenting it read /readyz's details from anywhere (see smaint run)")
	fs.secret("http-token")
	fs.StringVar(&keys, "api-keys", "", "the API keys, one per line or ';': NAME SCOPES RATE sha256:HEX, as smaint serve newkey prints them")
	fs.secret("api-keys")
	fs.Int64Var(&api.MaxBodyBytes, "max-body-bytes", api.MaxBodyBytes, "largest request body; larger: 413")
	fs.IntVar(&api.MaxReadings, "max-readings", api.MaxReadings, "most readings in one POST; more: 413")
	fs.DurationVar(&api.Timeout, "request-timeout", api.Timeout, "longest a request may take, waiting for the brokers included; longer: 503")
	fs.IntVar(&api.MaxInFlight, "max-in-flight", api.MaxInFlight, "requests served at once; more are refused with 503 and Retry-After (not queued)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := kf.validate(); err != nil {
		return err
	}
	ks, err := httpapi.ParseKeys(strings.NewReader(keys))
	if err != nil {
		return fmt.Errorf("--api-keys: %w", err)
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	// The API is built, and its configuration checked, before anything
	// connects; it writes through write, set once the brokers are.
	var write func(context.Context, []schemas.SensorReading, string) error
	api.Keys, api.Check, api.Logger = ks, check.Check, log.With("component", "api")
	api.Write = func(ctx context.Context, rs []schemas.SensorReading, id string) error { return write(ctx, rs, id) }
	d, opts, err := kf.connect(log)
	if err != nil {
		return err
	}
	api.Health, api.Registerer = d.health, d.reg
	if db.given() {
		pool, err := db.connect(ctx, "smaint-api")
		if err != nil {
			return err
		}
		defer pool.Close()
		api.State = timescale.State{Pool: pool}
	} else {
		log.Warn("no --database-url: GET /v1/sensors and /v1/alerts answer 503")
	}
	a, err := httpapi.New(api)
	if err != nil {
		return err
	}
	if err := kf.check(ctx, log); err != nil {
		return err
	}
	w, closeW, watch, err := readingsWriter(ctx, d, opts)
	if err != nil {
		return err
	}
	defer closeW()
	write = w
	srv, err := a.Listen(listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	ops, err := pipeline.NewServer(addr, d.reg, d.health, log)
	if err != nil {
		return fmt.Errorf("--http: %w", err)
	}
	ops.RevealTo(httpToken)
	log.Info("smaint API serving", "listen", srv.Addr(), "http", ops.Addr(), "keys", ks.Len(), "topic", d.topics.Readings)
	return pipeline.RunAll(ctx, srv, ops, watch)
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
