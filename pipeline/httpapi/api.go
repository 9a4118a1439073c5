package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
)

// OpenAPI is the API's OpenAPI 3 document, as GET /v1/openapi.yaml serves
// it.
//
//go:embed openapi.yaml
var OpenAPI []byte

// API serves the endpoints. It is safe for concurrent use; at most
// Config.MaxInFlight requests are served at once, and the others are
// refused with 503 rather than queued.
type API struct {
	cfg     Config
	mux     *http.ServeMux
	limit   *limiter
	slots   chan struct{}
	metrics *metrics
}

// New returns the API of cfg (with its defaults).
func New(cfg Config) (*API, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, mux: http.NewServeMux(), limit: newLimiter(), slots: make(chan struct{}, cfg.MaxInFlight), metrics: newMetrics(cfg.Registerer)}
	a.route("POST /v1/readings", "readings", ScopeWrite, a.postReadings)
	a.route("GET /v1/sensors/{id}", "sensor", ScopeRead, a.getSensor)
	a.route("GET /v1/alerts", "alerts", ScopeRead, a.getAlerts)
	a.route("GET /v1/health", "health", "", a.getHealth)
	a.route("GET /v1/openapi.yaml", "openapi", "", func(w http.ResponseWriter, _ *request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	})
	// The same paths with other methods, and every other path, answer in
	// JSON too (the mux's own answers are plain text).
	for p, allow := range map[string]string{"/v1/readings": "POST", "/v1/sensors/{id}": "GET, HEAD", "/v1/alerts": "GET, HEAD",
		"/v1/health": "GET, HEAD", "/v1/openapi.yaml": "GET, HEAD"} {
		a.route(p, "other", "", func(w http.ResponseWriter, r *request) {
			w.Header().Set("Allow", allow)
			a.fail(w, r, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not served on "+r.URL.Path+" (Allow: "+allow+")")
		})
	}
	a.route("/", "other", "", func(w http.ResponseWriter, r *request) {
		a.fail(w, r, http.StatusNotFound, "not_found", "no endpoint "+r.URL.Path+" (see /v1/openapi.yaml)")
	})
	return a, nil
}

// Handler returns the API's endpoints.
func (a *API) Handler() http.Handler { return a.mux }

// request is a request as the handlers see it: with its id, and the key
// that made it once it is authenticated.
type request struct {
	*http.Request
	raw http.ResponseWriter // the server's, for http.MaxBytesReader
	id  string
	key *Key
}

// route mounts h on pattern: with a request id, a slot among the requests
// in flight, the request timeout, the key's scope and rate limit, a log
// line for every failure, and the request metrics.
func (a *API) route(pattern, name string, scope Scope, h func(http.ResponseWriter, *request)) {
	a.mux.HandleFunc(pattern, func(hw http.ResponseWriter, hr *http.Request) {
		start := time.Now()
		w := &recorder{ResponseWriter: hw, code: http.StatusOK}
		r := &request{Request: hr, raw: hw, id: requestID(hr)}
		w.Header().Set("X-Request-Id", r.id)
		defer func() {
			a.metrics.observe(name, w.code, time.Since(start))
			if w.code >= 400 {
				keyName := ""
				if r.key != nil {
					keyName = r.key.Name
				}
				a.cfg.Logger.Info("request refused", "request_id", r.id, "method", r.Method, "path", r.URL.Path, "status", w.code,
					"code", w.errCode, "key", keyName, "remote", remoteHost(hr))
			}
		}()
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		default:
			w.Header().Set("Retry-After", "1")
			a.fail(w, r, http.StatusServiceUnavailable, "overloaded", "too many requests in flight; try again shortly")
			return
		}
		ctx, cancel := context.WithTimeout(hr.Context(), a.cfg.Timeout)
		defer cancel()
		r.Request = hr.WithContext(ctx)
		if scope != "" && !a.authorize(w, r, scope) {
			return
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.cfg.Logger.Error("request panicked", "request_id", r.id, "panic", p)
				a.fail(w, r, http.StatusInternalServerError, "internal", "the server failed on this request")
			}
		}()
		h(w, r)
	})
}

// authorize authenticates r's key and checks its scope and rate limit;
// when it refuses, it has answered.
func (a *API) authorize(w *recorder, r *request, scope Scope) bool {
	secret, ok := bearer(r.Request)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="smaint"`)
		a.fail(w, r, http.StatusUnauthorized, "unauthenticated", "an API key is required: Authorization: Bearer KEY, or X-API-Key: KEY")
		return false
	}
	k, ok := a.cfg.Keys.Lookup(secret)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="smaint", error="invalid_token"`)
		a.fail(w, r, http.StatusUnauthorized, "unauthenticated", "the API key is not known")
		return false
	}
	r.key = k
	if !k.Allows(scope) {
		a.fail(w, r, http.StatusForbidden, "forbidden", "the API key "+k.Name+" has no "+string(scope)+" scope")
		return false
	}
	if ok, wait := a.limit.take(k, a.cfg.Clock.Now()); !ok {
		a.metrics.limited.WithLabelValues(k.Name).Inc()
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
		a.fail(w, r, http.StatusTooManyRequests, "rate_limited", "the API key "+k.Name+" is over its rate limit")
		return false
	}
	return true
}

func bearer(r *http.Request) (string, bool) {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k, true
	}
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && (auth[:7] == "Bearer " || auth[:7] == "bearer ") {
		return auth[7:], true
	}
	return "", false
}

// requestID is the caller's X-Request-Id when it is a sane one (1 to 128
// of letters, digits and -_.:), else a new UUID.
func requestID(r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		return schemas.NewUUID()
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return schemas.NewUUID()
		}
	}
	return id
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// apiError is the body of every error response.
type apiError struct {
	Error struct {
		Code      string        `json:"code"`
		Message   string        `json:"message"`
		RequestID string        `json:"request_id"`
		Records   []recordError `json:"records,omitempty"`
		More      int           `json:"more_records,omitempty"`
		// Assigned are the ids given to readings that came without one,
		// on a failed write: a retry sends them, to be stored once.
		Assigned []assignedID `json:"assigned_ids,omitempty"`
	} `json:"error"`
}

// maxListed is how many per-record errors a response lists; the rest are
// counted.
const maxListed = 100

// fail answers r with status and a JSON error.
func (a *API) fail(w http.ResponseWriter, r *request, status int, code, msg string, records ...recordError) {
	a.failWith(w, r, status, code, msg, func(e *apiError) {
		if len(records) > maxListed {
			e.Error.More, records = len(records)-maxListed, records[:maxListed]
		}
		e.Error.Records = records
	})
}

// failWith is fail with more said in the error by more.
func (a *API) failWith(w http.ResponseWriter, r *request, status int, code, msg string, more func(*apiError)) {
	var e apiError
	e.Error.Code, e.Error.Message, e.Error.RequestID = code, msg, r.id
	more(&e)
	if rec, ok := w.(*recorder); ok {
		rec.errCode = code
	}
	reply(w, status, e)
}

// reply writes v as JSON with status.
func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// recorder remembers the status and error code a handler answered with.
type recorder struct {
	http.ResponseWriter
	code    int
	errCode string
}

func (w *recorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Server serves an API on a listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen returns a Server of a on addr (host:port; port 0 picks one).
// Slow clients are bounded: 5 s to send the headers, the request timeout
// plus 5 s to send the body and be answered.
func (a *API) Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Server{ln: ln, srv: &http.Server{
		Handler: a.mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: a.cfg.Timeout + 5*time.Second,
		WriteTimeout: a.cfg.Timeout + 5*time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
	}}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down, waiting for the requests in
// flight as long as one may take (the read timeout: the request timeout
// and 5 s), so a request admitted before the shutdown is answered.
func (s *Server) Run(ctx context.Context) error {
	if err := pipeline.ServeHTTP(ctx, s.srv, s.ln, s.srv.ReadTimeout); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
