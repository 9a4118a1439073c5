// Package notify delivers alerts outside Kafka: to a webhook (Slack-style
// JSON) and by mail (SMTP), through a Dispatcher that keeps delivery off
// the stream's path. The alert stage hands alerts to Dispatcher.Enqueue
// through its Config.Notify hook and knows nothing of the clients.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/schemas"
)

// Notifier delivers an alert outside Kafka. Implementations must be safe
// for concurrent use.
type Notifier interface {
	Name() string
	Notify(ctx context.Context, a *schemas.Alert) error
}

// ErrPermanent marks a delivery failure that retrying cannot fix (a 4xx
// from a webhook, say).
var ErrPermanent = errors.New("permanent notification failure")

// DispatcherConfig tunes a Dispatcher.
type DispatcherConfig struct {
	Queue      int           // alerts waiting to be delivered (default 1000); beyond, new ones are dropped
	Attempts   int           // tries per alert and notifier (default 5)
	MinBackoff time.Duration // first wait between tries (default 500ms), doubling...
	MaxBackoff time.Duration // ... up to this (default 30s)
	Timeout    time.Duration // per try (default 10s)
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Dispatcher delivers alerts to notifiers off the stream's path: Enqueue
// never blocks, and Run delivers with retries and backoff. An alert that
// cannot be delivered is logged and counted, never retried forever; the
// alert topic keeps every alert regardless.
type Dispatcher struct {
	cfg       DispatcherConfig
	notifiers []Notifier
	queue     chan *schemas.Alert
	sent      *prometheus.CounterVec
	failed    *prometheus.CounterVec
	dropped   prometheus.Counter
}

// NewDispatcher returns a Dispatcher for the notifiers.
func NewDispatcher(cfg DispatcherConfig, notifiers ...Notifier) *Dispatcher {
	if cfg.Queue == 0 {
		cfg.Queue = 1000
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = 5
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		cfg: cfg, notifiers: notifiers, queue: make(chan *schemas.Alert, cfg.Queue),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_notifications_sent_total", Help: "Alerts delivered, by notifier.",
		}, []string{"notifier"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smaint_notifications_failed_total", Help: "Alerts a notifier could not deliver after its retries.",
		}, []string{"notifier"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smaint_notifications_dropped_total", Help: "Alerts not queued for notification because the queue was full.",
		}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(d.sent, d.failed, d.dropped)
	}
	return d
}

// Enqueue queues a copy of a for delivery; if the queue is full the
// alert is dropped (and counted) rather than slowing the stream.
func (d *Dispatcher) Enqueue(a *schemas.Alert) {
	c := *a
	select {
	case d.queue <- &c:
	default:
		d.dropped.Inc()
	}
}

// Run delivers queued alerts until ctx ends; then what is still queued,
// or being delivered, gets five more seconds.
func (d *Dispatcher) Run(ctx context.Context) error {
	grace, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(5*time.Second, cancel)
		context.AfterFunc(grace, func() { t.Stop() })
	})
	defer stop()
	for {
		select {
		case a := <-d.queue:
			d.deliver(grace, a)
		case <-ctx.Done():
			for {
				select {
				case a := <-d.queue:
					d.deliver(grace, a)
				default:
					return nil
				}
			}
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, a *schemas.Alert) {
	for _, n := range d.notifiers {
		backoff := d.cfg.MinBackoff
		var err error
		for attempt := 1; attempt <= d.cfg.Attempts; attempt++ {
			tctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
			err = n.Notify(tctx, a)
			cancel()
			if err == nil || errors.Is(err, ErrPermanent) || ctx.Err() != nil || attempt == d.cfg.Attempts {
				break
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(2*backoff, d.cfg.MaxBackoff)
		}
		if err != nil {
			d.failed.WithLabelValues(n.Name()).Inc()
			d.cfg.Logger.Warn("notification not delivered", "notifier", n.Name(), "alert", a.AlertID, "err", err)
			continue
		}
		d.sent.WithLabelValues(n.Name()).Inc()
	}
}

// Text is the one-paragraph human form of an alert.
func Text(a *schemas.Alert) string {
	return fmt.Sprintf("[%s] %s %s on %s (%s): %s\nRecommended: %s\nAlert %s, opened %s, last seen %s.",
		a.Severity, a.Kind, a.State, a.AssetID, a.SensorID, a.Summary, a.RecommendedAction,
		a.AlertID, a.OpenedAt.Format(time.RFC3339), a.LastSeen.Format(time.RFC3339))
}

// Webhook posts alerts as JSON: a Slack-compatible "text" with the whole
// alert under "alert".
type Webhook struct {
	URL    string
	Client *http.Client // nil: http.DefaultClient
}

// Name implements Notifier.
func (w *Webhook) Name() string { return "webhook" }

// Notify implements Notifier. 4xx answers (but 408 and 429) are permanent.
func (w *Webhook) Notify(ctx context.Context, a *schemas.Alert) error {
	body, err := json.Marshal(struct {
		Text  string         `json:"text"`
		Alert *schemas.Alert `json:"alert"`
	}{Text(a), a})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	cl := w.Client
	if cl == nil {
		cl = http.DefaultClient
	}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429:
		return fmt.Errorf("%w: webhook answered %s", ErrPermanent, resp.Status)
	default:
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
}

// SMTP mails alerts.
type SMTP struct {
	Addr     string // host:port
	From     string
	To       []string
	User     string // PLAIN auth when set
	Password string
}

// Name implements Notifier.
func (s *SMTP) Name() string { return "smtp" }

// Notify implements Notifier.
func (s *SMTP) Notify(ctx context.Context, a *schemas.Alert) error {
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("%w: smtp address %q: %v", ErrPermanent, s.Addr, err)
	}
	var auth smtp.Auth
	if s.User != "" {
		auth = smtp.PlainAuth("", s.User, s.Password, host)
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: [%s] %s %s: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		s.From, strings.Join(s.To, ", "), a.Severity, a.Kind, a.State, a.SensorID,
		strings.ReplaceAll(Text(a), "\n", "\r\n"))
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(s.Addr, auth, s.From, s.To, []byte(msg.String())) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
