package timescale

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smaint/smaint/pipeline"
)

// DefaultStatementTimeout is Config.StatementTimeout's default.
const DefaultStatementTimeout = 30 * time.Second

// DefaultSplitAfter is Config.SplitAfter's default.
const DefaultSplitAfter = 3

// Config configures a Sink.
type Config struct {
	Pool *pgxpool.Pool // required; its search_path selects the schema
	// Mode is read from the database (as Migrate recorded it) when empty.
	Mode Mode
	// StatementTimeout bounds each statement of a write (default 30s;
	// negative: none). A write blocked on a lock, or on a database that
	// stopped answering, fails after it and is retried, visibly
	// (smaint_sink_database_up, /readyz), instead of waiting unseen.
	StatementTimeout time.Duration
	// SplitAfter is how many times in a row a batch's write may fail with
	// the same row error (a SQLSTATE that can belong to some rows: a
	// trigger's RAISE, a program limit, TimescaleDB's 53400) before the
	// batch is split to find the rows the database refuses, which are
	// dead-lettered while the rest are stored (default 3; negative: never,
	// the batch is retried until the database takes it). Errors that name
	// the database or the session (connection, timeout, lock, privilege,
	// a missing table) are never split on: nothing is dead-lettered for
	// an outage or a misconfiguration.
	SplitAfter int

	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Health     *pipeline.Health // the sink reports "database/<table>" here
}

// Validate reports the first unusable setting, wrapping pipeline.ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.Pool == nil:
		return fmt.Errorf("%w: sink: no database pool", pipeline.ErrConfig)
	case c.Mode != "" && c.Mode != ModeTimescale && c.Mode != ModePlain:
		return fmt.Errorf("%w: sink: storage mode %q", pipeline.ErrConfig, c.Mode)
	}
	return nil
}

// Sink is a pipeline stage that stores the records it is given in one
// table, a batch per transaction, and emits nothing: the runner commits a
// batch's offsets only after Process returns, that is after the
// transaction committed.
//
// A batch is copied straight into the table (COPY) and, only when that
// conflicts with rows already there (a replay after a crash or a
// rebalance), copied into a temporary table and inserted with ON CONFLICT
// DO NOTHING: a replay changes nothing and raises no error. When the
// database is down, Process returns the error and the runner retries the
// batch with backoff and stops fetching meanwhile; the sink reports the
// state in smaint_sink_database_up and in Health. A record the database
// refuses (say, a NUL byte in a string) is found by splitting the batch
// and dead-lettered; the rest are stored. So is a record the database
// refuses with an error it does not class as bad data, once the batch
// has failed the same way Config.SplitAfter times: no batch is retried
// forever for the sake of some of its rows.
//
// In plain-PostgreSQL mode the readings sink also keeps the hourly rollup
// current: in the same transaction it appends the aggregates of the rows
// it actually inserted to sensor_readings_hourly_delta (see Compact).
//
// Process is called from one goroutine at a time (the runner's contract).
type Sink[T any] struct {
	cfg   Config
	table Table[T]
	name  string
	log   *slog.Logger
	met   *sinkMetrics
	lbl   string

	rows [][]any
	idx  []int // input index of each row
	buf  []any

	sensorCol, tsCol, valueCol int // of the hourly table's rows

	// The row error the last writes failed with, and how many in a row.
	repeatCode string
	repeats    int
	// tableWide is a row error every row of a batch failed with alone,
	// until a write succeeds: not split for again.
	tableWide string
	refused   []refusal // rows the database refused, found by split
}

// refusal is a row of s.rows the database refused alone, and why.
type refusal struct {
	row int
	err error
}

// New returns a sink writing to table.
func New[T any](table Table[T], cfg Config) (*Sink[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StatementTimeout == 0 {
		cfg.StatementTimeout = DefaultStatementTimeout
	}
	if cfg.SplitAfter == 0 {
		cfg.SplitAfter = DefaultSplitAfter
	}
	s := &Sink[T]{cfg: cfg, table: table, name: "sink-" + table.Name, lbl: table.Name,
		log: cfg.Logger.With("table", table.Name), met: newSinkMetrics(cfg.Registerer)}
	s.met.up.WithLabelValues(s.lbl).Set(0)
	if table.hourly {
		s.sensorCol, s.tsCol, s.valueCol = slices.Index(table.Columns, "sensor_id"), slices.Index(table.Columns, "ts"), slices.Index(table.Columns, "value")
	}
	return s, nil
}

// Process implements pipeline.Stage.
func (s *Sink[T]) Process(ctx context.Context, in []pipeline.Msg[T], out *pipeline.Emitter) error {
	s.rows, s.idx = s.rows[:0], s.idx[:0]
	width := len(s.table.Columns)
	if need := len(in) * width; cap(s.buf) < need {
		s.buf = make([]any, 0, need)
	}
	s.buf = s.buf[:0]
	for i := range in {
		start := len(s.buf)
		var err error
		s.buf, err = s.table.Row(&in[i].Value, s.buf)
		if err != nil {
			s.buf = s.buf[:start]
			out.Reject(i, err)
			continue
		}
		s.rows = append(s.rows, s.buf[start:len(s.buf):len(s.buf)])
		s.idx = append(s.idx, i)
	}
	if len(s.rows) == 0 {
		return nil
	}
	if s.cfg.Mode == "" {
		st, err := ReadSettings(ctx, s.cfg.Pool)
		if err != nil {
			return s.failed(err)
		}
		s.cfg.Mode = st.Mode
	}
	started := time.Now()
	conflicts, err := s.store(ctx, s.rows)
	for _, c := range conflicts {
		s.conflict(c, out)
	}
	switch {
	case isDataError(err):
		s.log.Warn("the database refused part of a batch; finding the records", "records", len(s.rows), "err", err)
		err = s.split(ctx, 0, len(s.rows), "", out)
	case s.repeated(err) && s.tableWide != s.repeatCode:
		s.log.Warn("a batch failed the same way repeatedly; splitting it to find the records the database refuses",
			"records", len(s.rows), "failures", s.repeats, "sqlstate", s.repeatCode, "err", err)
		first := err
		if err = s.split(ctx, 0, len(s.rows), s.repeatCode, out); err == nil && len(s.rows) > 1 && len(s.refused) == len(s.rows) {
			// Every row fails alone as the batch did: the table refuses
			// everything (a trigger, a setting), not these rows. Nothing is
			// dead-lettered; the batch waits for the database to be fixed.
			// (A batch of one row cannot tell the two apart, and its row
			// is taken to be at fault.)
			s.log.Error("every record of the batch is refused the same way: the table, not the records; retrying until it is fixed",
				"records", len(s.rows), "sqlstate", s.repeatCode, "err", first)
			s.tableWide, s.refused, err = s.repeatCode, s.refused[:0], first
		}
	}
	refused := s.refused
	s.refused = s.refused[:0]
	if err != nil {
		return s.failed(err)
	}
	s.tableWide = ""
	for _, r := range refused {
		s.met.rejected.WithLabelValues(s.lbl).Inc()
		out.Reject(s.idx[r.row], fmt.Errorf("%w: %s refused it: %v", pipeline.ErrInvalid, s.table.Name, r.err))
	}
	s.repeatCode, s.repeats = "", 0
	s.met.seconds.WithLabelValues(s.lbl).Observe(time.Since(started).Seconds())
	s.met.up.WithLabelValues(s.lbl).Set(1)
	s.cfg.Health.Set("database/"+s.table.Name, true, "")
	return nil
}

// failed records a failed write and returns the error for the runner to
// retry.
func (s *Sink[T]) failed(err error) error {
	s.met.errors.WithLabelValues(s.lbl).Inc()
	s.met.up.WithLabelValues(s.lbl).Set(0)
	s.cfg.Health.Set("database/"+s.table.Name, false, "writes failing, retrying: "+err.Error())
	return fmt.Errorf("%s: %w", s.table.Name, err)
}

// store writes rows: COPY, or the staged upsert when that conflicts. It
// returns the positions in rows of those whose key is stored under
// another identity (see Table.Identity).
func (s *Sink[T]) store(ctx context.Context, rows [][]any) ([]int, error) {
	n, err := s.copyFast(ctx, rows)
	if isUniqueViolation(err) || isDecompressionLimit(err) {
		var conflicts []int
		n, conflicts, err = s.upsert(ctx, rows)
		if err == nil {
			s.met.rows.WithLabelValues(s.lbl, "upsert").Add(float64(n))
			s.met.existing.WithLabelValues(s.lbl).Add(float64(int64(len(rows)-len(conflicts)) - n))
		}
		return conflicts, err
	}
	if err == nil {
		s.met.rows.WithLabelValues(s.lbl, "copy").Add(float64(n))
	}
	return nil, err
}

// conflict dead-letters the row at position i of s.rows: its key is
// stored, but for another record.
func (s *Sink[T]) conflict(i int, out *pipeline.Emitter) {
	s.met.rejected.WithLabelValues(s.lbl).Inc()
	out.Reject(s.idx[i], fmt.Errorf("%w: %s already holds another record (another %s) under this one's key (%s)",
		pipeline.ErrConflict, s.table.Name, s.table.Identity, strings.Join(s.table.Key, ", ")))
}

// repeated counts a failed write and reports whether its batch has now
// failed Config.SplitAfter times in a row with the same row error.
func (s *Sink[T]) repeated(err error) bool {
	if !isRowError(err) {
		s.repeatCode, s.repeats = "", 0
		return false
	}
	if code := pgCode(err); code != s.repeatCode {
		s.repeatCode, s.repeats = code, 0
	}
	s.repeats++
	return s.cfg.SplitAfter > 0 && s.repeats >= s.cfg.SplitAfter
}

// split stores rows[lo:hi] in halves until the rows the database refuses
// (with a data error, or with SQLSTATE code when that is not "") are
// alone, and dead-letters those.
func (s *Sink[T]) split(ctx context.Context, lo, hi int, code string, out *pipeline.Emitter) error {
	n, conflicts, err := s.upsert(ctx, s.rows[lo:hi])
	switch {
	case err == nil:
		for _, c := range conflicts {
			s.conflict(lo+c, out)
		}
		s.met.rows.WithLabelValues(s.lbl, "upsert").Add(float64(n))
		s.met.existing.WithLabelValues(s.lbl).Add(float64(int64(hi-lo-len(conflicts)) - n))
		return nil
	case !isDataError(err) && (code == "" || pgCode(err) != code):
		return err
	case hi-lo == 1:
		s.refused = append(s.refused, refusal{lo, err})
		return nil
	}
	mid := (lo + hi) / 2
	if err := s.split(ctx, lo, mid, code, out); err != nil {
		return err
	}
	return s.split(ctx, mid, hi, code, out)
}

func (s *Sink[T]) copyFast(ctx context.Context, rows [][]any) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if err := s.bound(ctx, tx); err != nil {
			return err
		}
		var err error
		n, err = tx.CopyFrom(ctx, pgx.Identifier{s.table.Name}, s.table.Columns, pgx.CopyFromRows(rows))
		if err != nil {
			return err
		}
		if s.table.hourly && s.cfg.Mode == ModePlain {
			return s.rollUp(ctx, tx, rows)
		}
		return nil
	})
	return n, err
}

// upsert copies rows into a temporary table and inserts them from there,
// leaving rows already stored alone. It returns how many it inserted, and
// the positions in rows of those left out because their key is stored
// under another identity (Table.Identity): another record, not a replay.
func (s *Sink[T]) upsert(ctx context.Context, rows [][]any) (int64, []int, error) {
	stage := "smaint_stage_" + s.table.Name
	cols := strings.Join(s.table.Columns, ", ")
	insert := fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM %s ON CONFLICT DO NOTHING`, s.table.Name, cols, cols, stage)
	var query string
	if s.table.hourly && s.cfg.Mode == ModePlain {
		query = `WITH ins AS (` + insert + ` RETURNING sensor_id, ts, value),
			roll AS (INSERT INTO sensor_readings_hourly_delta (bucket, sensor_id, sum, count, min, max)
				SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), sensor_id, sum(value), count(*), min(value), max(value)
				FROM ins GROUP BY 1, 2)
			SELECT count(*) FROM ins`
	} else {
		query = `WITH ins AS (` + insert + ` RETURNING 1) SELECT count(*) FROM ins`
	}
	var (
		n         int64
		conflicts []int
	)
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		conflicts = conflicts[:0]
		if err := s.bound(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`,
			stage, s.table.Name)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{stage}, s.table.Columns, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, query).Scan(&n); err != nil {
			return err
		}
		if s.table.Identity == "" {
			return nil
		}
		// After the insert, in the same transaction: every staged row whose
		// key is now stored with another identity, whether it was there
		// before or came in this very batch.
		var err error
		conflicts, err = s.conflicting(ctx, tx, stage, rows)
		return err
	})
	return n, conflicts, err
}

// bound sets, for the rest of tx, the statement timeout and, on TimescaleDB,
// no limit on the tuples a write may decompress.
func (s *Sink[T]) bound(ctx context.Context, tx pgx.Tx) error {
	if s.cfg.Mode == ModeTimescale {
		// A replay into compressed chunks decompresses what it meets;
		// past TimescaleDB's per-transaction limit (100,000 tuples by
		// default) the write fails with 53400 however often it is tried.
		if _, err := tx.Exec(ctx, "SET LOCAL timescaledb.max_tuples_decompressed_per_dml_transaction = 0"); err != nil {
			return err
		}
	}
	if s.cfg.StatementTimeout < 0 {
		return nil
	}
	_, err := tx.Exec(ctx, "SET LOCAL statement_timeout = "+strconv.FormatInt(max(1, s.cfg.StatementTimeout.Milliseconds()), 10))
	return err
}

// conflicting returns the positions in rows, staged in stage, of those
// whose key is stored under another identity.
func (s *Sink[T]) conflicting(ctx context.Context, tx pgx.Tx, stage string, rows [][]any) ([]int, error) {
	id := s.table.Identity
	q, args := s.conflictQuery(stage, rows)
	res, _ := tx.Query(ctx, q, args...) // an error shows in CollectRows
	ids, err := pgx.CollectRows(res, pgx.RowTo[[16]byte])
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	other := make(map[[16]byte]bool, len(ids))
	for _, u := range ids {
		other[u] = true
	}
	col := slices.Index(s.table.Columns, id)
	var out []int
	for i, r := range rows {
		if u, ok := r[col].([16]byte); ok && other[u] {
			out = append(out, i)
		}
	}
	return out, nil
}

// conflictQuery selects the identities of the rows staged in stage whose
// key is stored under another identity. The stored rows to compare with
// lie in the batch's time range: with the range as constants the join
// reads those (on TimescaleDB the chunks of that range, compressed or
// not) instead of the whole table on every replayed batch.
func (s *Sink[T]) conflictQuery(stage string, rows [][]any) (string, []any) {
	id := s.table.Identity
	q := fmt.Sprintf(`SELECT s.%s FROM %s s JOIN %s t USING (%s) WHERE t.%s IS DISTINCT FROM s.%s`,
		id, stage, s.table.Name, strings.Join(s.table.Key, ", "), id, id)
	lo, hi, ok := s.timeRange(rows)
	if !ok {
		return q, nil
	}
	return q + fmt.Sprintf(` AND t.%s BETWEEN $1 AND $2`, s.table.Time), []any{lo, hi}
}

// timeRange returns the earliest and latest Table.Time of rows, when that
// column is part of the key (so that a stored row with a row's key has
// its time too).
func (s *Sink[T]) timeRange(rows [][]any) (lo, hi time.Time, ok bool) {
	if !slices.Contains(s.table.Key, s.table.Time) {
		return lo, hi, false
	}
	col := slices.Index(s.table.Columns, s.table.Time)
	for i, r := range rows {
		t, isTime := r[col].(time.Time)
		if !isTime {
			return lo, hi, false
		}
		if i == 0 || t.Before(lo) {
			lo = t
		}
		if i == 0 || t.After(hi) {
			hi = t
		}
	}
	return lo, hi, len(rows) > 0
}

type hourKey struct {
	sensor string
	bucket time.Time
}

// rollUp appends the hourly aggregates of a batch that was inserted whole
// to the rollup's delta table.
func (s *Sink[T]) rollUp(ctx context.Context, tx pgx.Tx, rows [][]any) error {
	type agg struct {
		hourKey
		sum, min, max float64
		count         int64
	}
	idx := map[hourKey]int{}
	var aggs []agg
	for _, r := range rows {
		k := hourKey{r[s.sensorCol].(string), r[s.tsCol].(time.Time).Truncate(time.Hour).UTC()}
		v := r[s.valueCol].(float64)
		i, ok := idx[k]
		if !ok {
			idx[k] = len(aggs)
			aggs = append(aggs, agg{hourKey: k, sum: v, min: v, max: v, count: 1})
			continue
		}
		a := &aggs[i]
		a.sum += v
		a.count++
		a.min = min(a.min, v)
		a.max = max(a.max, v)
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"sensor_readings_hourly_delta"},
		[]string{"bucket", "sensor_id", "sum", "count", "min", "max"},
		pgx.CopyFromSlice(len(aggs), func(i int) ([]any, error) {
			a := &aggs[i]
			return []any{a.bucket, a.sensor, a.sum, a.count, a.min, a.max}, nil
		}))
	return err
}
