package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/smaint/smaint/schemas"
)

// accepted is the body of a 202.
type accepted struct {
	Accepted  int           `json:"accepted"`
	Rejected  int           `json:"rejected"`
	RequestID string        `json:"request_id"`
	Assigned  []assignedID  `json:"assigned_ids,omitempty"`
	Errors    []recordError `json:"errors,omitempty"`
}

// assignedID is the id the API gave a reading that came without one.
type assignedID struct {
	Index     int    `json:"index"`
	ReadingID string `json:"reading_id"`
}

// postReadings takes one reading or a batch. Every reading is checked as
// dedupe checks it; when any fails, nothing is written and the answer is
// 400 with every failure, unless ?partial=true, which writes the valid
// ones and lists the others in the 202. A 202 comes only after the
// brokers acknowledged every accepted reading.
func (a *API) postReadings(w http.ResponseWriter, r *request) {
	format, err := formatOf(r.Header.Get("Content-Type"))
	if err != nil {
		a.fail(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type", err.Error())
		return
	}
	partial := r.URL.Query().Get("partial") == "true"
	body, err := io.ReadAll(http.MaxBytesReader(r.raw, r.Body, a.cfg.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		a.fail(w, r, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is over the %d bytes a request may take", a.cfg.MaxBodyBytes))
		return
	case err != nil:
		a.fail(w, r, http.StatusBadRequest, "unreadable", "the body could not be read: "+err.Error())
		return
	}
	var (
		rs  []schemas.SensorReading
		bad []recordError
	)
	if format == formatAvro {
		rs, bad, err = decodeAvro(body, a.cfg.MaxReadings, 4*a.cfg.MaxBodyBytes)
	} else {
		rs, bad, err = decodeJSON(body, a.cfg.MaxReadings)
	}
	switch {
	case errors.Is(err, errTooMany):
		a.fail(w, r, http.StatusRequestEntityTooLarge, "too_many_readings", fmt.Sprintf("more than the %d readings a request may carry", a.cfg.MaxReadings))
		return
	case err != nil:
		a.fail(w, r, http.StatusBadRequest, "malformed", err.Error())
		return
	case len(rs) == 0:
		a.fail(w, r, http.StatusBadRequest, "empty", "the body holds no readings")
		return
	}
	good, assigned, bad := a.check(rs, bad)
	a.metrics.readings.WithLabelValues("rejected").Add(float64(len(bad)))
	if len(bad) > 0 && (!partial || len(good) == 0) {
		a.fail(w, r, http.StatusBadRequest, "invalid_readings", fmt.Sprintf("%d of %d readings are invalid; none was written", len(bad), len(rs)), bad...)
		return
	}
	if err := a.cfg.Write(r.Context(), good, r.id); err != nil {
		code := "unavailable"
		if errors.Is(err, context.DeadlineExceeded) {
			code = "timeout"
		}
		a.cfg.Logger.Warn("readings not written", "request_id", r.id, "readings", len(good), "err", err)
		w.Header().Set("Retry-After", "5")
		a.failWith(w, r, http.StatusServiceUnavailable, code,
			"the readings could not be written to Kafka, or not all: retry with the same reading ids (assigned_ids has those the API gave)",
			func(e *apiError) { e.Error.Assigned = assigned })
		return
	}
	a.metrics.readings.WithLabelValues("accepted").Add(float64(len(good)))
	if len(bad) > maxListed {
		bad = bad[:maxListed]
	}
	reply(w, http.StatusAccepted, accepted{Accepted: len(good), Rejected: len(rs) - len(good), RequestID: r.id, Assigned: assigned, Errors: bad})
}

// check gives readings without an id one, and returns those that pass
// Check, the ids it assigned, and every failure (decoding's, bad, and
// Check's) in index order.
func (a *API) check(rs []schemas.SensorReading, bad []recordError) ([]schemas.SensorReading, []assignedID, []recordError) {
	now := a.cfg.Clock.Now()
	good := make([]schemas.SensorReading, 0, len(rs))
	var (
		assigned []assignedID
		out      []recordError
		buf      []byte
	)
	for i := range rs {
		if len(bad) > 0 && bad[0].Index == i {
			out, bad = append(out, bad[0]), bad[1:]
			continue
		}
		rd := &rs[i]
		if rd.ReadingID == "" {
			rd.ReadingID = schemas.NewUUID()
			assigned = append(assigned, assignedID{Index: i, ReadingID: rd.ReadingID})
		}
		if a.cfg.Check != nil {
			// Its size on Kafka: the key, and the value with its 5-byte
			// registry header.
			buf = rd.AppendAvro(buf[:0])
			if err := a.cfg.Check(rd, len(rd.SensorID)+5+len(buf), now); err != nil {
				out = append(out, recordError{Index: i, ReadingID: rd.ReadingID, Error: err.Error()})
				continue
			}
		}
		good = append(good, *rd)
	}
	return good, assigned, out
}
