package pipeline

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves the operator endpoints:
//
//	/metrics  Prometheus metrics from the injected gatherer
//	/healthz  200 while the process runs (liveness)
//	/readyz   200 when every component in Health is ready, else 503; the
//	          body is JSON listing each component. Its details (error text
//	          that may name hosts, users and databases) go only to callers
//	          on the loopback interface or presenting the token given to
//	          RevealTo as "Authorization: Bearer <token>"; anyone else reads
//	          "not ready".
//	/drainedz (with ServeDrained) 200 when the process's stages have done
//	          all their inputs hold, else 503
type Server struct {
	srv   *http.Server
	mux   *http.ServeMux
	ln    net.Listener
	log   *slog.Logger
	token atomic.Pointer[string] // RevealTo's
}

// NewServer listens on addr (":0" picks a free port) and returns a Server
// ready to Run. It fails at once if the address cannot be bound.
func NewServer(addr string, g prometheus.Gatherer, h *Health, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelError)}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	s := &Server{mux: mux, ln: ln, log: log}
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		comps, ready := h.Report()
		if !s.trusted(r) {
			for i := range comps {
				if comps[i].Detail = ""; !comps[i].Ready {
					comps[i].Detail = "not ready"
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(struct {
			Ready      bool              `json:"ready"`
			Components []ComponentStatus `json:"components"`
		}{ready, comps})
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Handler returns the server's endpoints, to mount or test elsewhere.
func (s *Server) Handler() http.Handler { return s.mux }

// RevealTo lets callers presenting token ("Authorization: Bearer
// <token>") read /readyz's details from anywhere; without it, only
// loopback callers do. An empty token changes nothing.
func (s *Server) RevealTo(token string) {
	if token != "" {
		s.token.Store(&token)
	}
}

// trusted reports whether r may read details: it comes from the loopback
// interface, or carries the token.
func (s *Server) trusted(r *http.Request) bool {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return true
		}
	}
	tok := s.token.Load()
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok != nil && ok && subtle.ConstantTimeCompare([]byte(got), []byte(*tok)) == 1
}

// ServeDrained adds /drainedz: 200 when every one of services that is a
// Runner has processed everything its input topics hold, and had its
// outputs acknowledged and committed (see Drained), else 503. It answers
// for this process: a runner sharing its group with other processes
// reports false while they hold records. Operators use it to see a backlog
// cleared; tests, to wait for an exact state rather than for quiet. Call
// it before Run.
func (s *Server) ServeDrained(services []Service) {
	s.mux.HandleFunc("GET /drainedz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		done, err := Drained(ctx, services...)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		switch {
		case err != nil:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(err.Error() + "\n"))
		case !done:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not drained\n"))
		default:
			_, _ = w.Write([]byte("drained\n"))
		}
	})
}

// Drained reports whether every Runner among services has done all its
// input holds (Runner.Drained), asking them in the order given: in
// pipeline order, each is asked after what feeds it, so a true answer
// covers the outputs of the ones before. Services that are not runners
// are skipped.
func Drained(ctx context.Context, services ...Service) (bool, error) {
	for _, s := range services {
		if d, ok := s.(interface {
			Drained(context.Context) (bool, error)
		}); ok {
			if done, err := d.Drained(ctx); err != nil || !done {
				return false, err
			}
		}
	}
	return true, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down within five seconds.
func (s *Server) Run(ctx context.Context) error { return ServeHTTP(ctx, s.srv, s.ln, 5*time.Second) }

// ServeHTTP serves srv on ln until ctx ends, then shuts it down: it stops
// accepting, and waits up to grace for the requests in flight (a server
// whose requests may take longer should give it their longest). It
// returns nil after a shutdown on ctx, the error that stopped the server,
// or, when requests were still in flight after grace, an error saying so
// (their connections are then closed).
func ServeHTTP(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		srv.Close()
		return fmt.Errorf("HTTP server: requests still in flight %v after shutdown began, cut off: %w", grace, err)
	}
	return nil
}
