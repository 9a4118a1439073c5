package notify

import (
	"fmt"
	"strings"

	"github.com/smaint/smaint/pipeline"
)

// Config names the notifiers to deliver alerts to. The zero value names
// none.
type Config struct {
	Webhook string // POST each alert here (an http or https URL)
	SMTP    SMTP   // mail each alert through SMTP.Addr, when it is set
}

// Validate reports a setting no notifier can use, wrapping
// pipeline.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Webhook != "" && !strings.HasPrefix(c.Webhook, "http://") && !strings.HasPrefix(c.Webhook, "https://"):
		return fmt.Errorf("%w: webhook %q is not an http(s) URL", pipeline.ErrConfig, c.Webhook)
	case c.SMTP.Addr != "" && len(c.SMTP.To) == 0:
		return fmt.Errorf("%w: an SMTP server but no recipients", pipeline.ErrConfig)
	}
	return nil
}

// Notifiers returns the notifiers c names, none if it names none.
func (c Config) Notifiers() []Notifier {
	var ns []Notifier
	if c.Webhook != "" {
		ns = append(ns, &Webhook{URL: c.Webhook})
	}
	if c.SMTP.Addr != "" {
		m := c.SMTP
		ns = append(ns, &m)
	}
	return ns
}
