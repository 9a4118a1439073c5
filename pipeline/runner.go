package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/schemas"
)

// Runner runs one Stage in its own consumer group. Create it with
// NewRunner and call Run once.
type Runner[T any] struct {
	name   string
	stage  Stage[T]
	cfg    runnerConfig
	cl     *kgo.Client
	dec    *schemas.Decoder
	decode DecodeFunc[T]
	log    *slog.Logger
	met    *stageMetrics

	ticker       Ticker
	retainer     Retainer
	restorer     Restorer
	revoker      Revoker
	checkpointer Checkpointer
	outputs      []Port
	book         *offsetBook
	tx           *txn // nil: at least once

	// Owned by the polling goroutine.
	msgs     []Msg[T]
	raw      []*kgo.Record
	fetched  int // records of the last poll, transaction markers included
	lastTick time.Time
	// openTxns holds, per topic, what the broker said of open
	// transactions during the current Process or Tick call (see
	// openTxn); cleared before each call.
	openTxns map[string]map[int32]bool

	// position is the next offset to commit for every partition this
	// member consumes, before retention. Guarded by posMu because the
	// revoke callback edits it (while polling is blocked).
	posMu    sync.Mutex
	position map[TopicPartition]kgo.EpochOffset
	// backlog is, per partition, the records between the last one polled
	// and the high watermark of the fetch that brought it (see
	// Emitter.Behind). Guarded by posMu, like position.
	backlog map[TopicPartition]int64
	marks   map[TopicPartition]mark // scratch for submit

	inflight chan *batch
	free     chan *batch

	// done is, per partition, the offset after the last record whose
	// batch was processed and acknowledged (see Drained).
	doneMu sync.Mutex
	done   map[TopicPartition]int64

	// submitted counts batches handed to the committer, settled those it
	// has finished with; settledCh is signalled at each settle.
	submitted atomic.Int64
	settled   atomic.Int64
	settledMu sync.Mutex
	settledCh chan struct{}

	// For watchStalls: since when (Unix ns; 0: not) the runner has been
	// processing a batch of busyRecords records, and awaiting the
	// acknowledgements of the oldest batch in flight; whether it said it
	// is stalled.
	busySince, busyRecords, ackSince atomic.Int64
	stallMu                          sync.Mutex // orders stall reports with pollLoop's "consuming"
	stalled                          bool

	produceCtx    context.Context // outlives Run's ctx by the drain timeout
	cancelProduce context.CancelFunc
	stopLoop      context.CancelFunc // ends the poll loop on a fatal error
	failOnce      sync.Once
	failErr       error
	broken        atomic.Bool // a batch's outputs failed: nothing after it may commit
}

// NewRunner returns a Runner for stage, named name (metrics, logs,
// dead-letter headers, and the default consumer group "smaint-<name>").
// It validates the options and creates the Kafka client, which connects
// lazily; nothing blocks until Run.
func NewRunner[T any](name string, stage Stage[T], opts ...Option) (*Runner[T], error) {
	if name == "" || stage == nil {
		return nil, fmt.Errorf("%w: runner needs a name and a stage", ErrConfig)
	}
	cfg := defaultRunnerConfig(name)
	for _, o := range opts {
		o(&cfg)
	}
	cfg.group = cfg.groupPrefix + cfg.group
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.serde == nil {
		cfg.serde = schemas.NewSerde()
	}
	if cfg.metrics == nil {
		cfg.metrics = NewMetrics(nil)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if cfg.clock == nil {
		cfg.clock = SystemClock{}
	}
	r := &Runner[T]{
		name: name, stage: stage, cfg: cfg,
		dec:       cfg.serde.NewDecoder(),
		log:       cfg.log.With("stage", name),
		met:       cfg.metrics.forStage(name),
		position:  make(map[TopicPartition]kgo.EpochOffset),
		backlog:   make(map[TopicPartition]int64),
		done:      make(map[TopicPartition]int64),
		marks:     make(map[TopicPartition]mark),
		book:      newOffsetBook(),
		inflight:  make(chan *batch, cfg.maxInflight),
		free:      make(chan *batch, cfg.maxInflight+2),
		settledCh: make(chan struct{}),
	}
	var err error
	if r.decode, err = decoderFor[T](name, cfg.decode); err != nil {
		return nil, err
	}
	r.ticker, _ = stage.(Ticker)
	r.retainer, _ = stage.(Retainer)
	r.revoker, _ = stage.(Revoker)
	r.checkpointer, _ = stage.(Checkpointer)
	if rs, ok := stage.(Restorer); ok && rs.StateTopic() != "" {
		r.restorer = rs
	}
	if o, ok := stage.(Outputter); ok {
		r.outputs = o.Outputs()
	}

	kopts := append(append([]kgo.Opt(nil), cfg.kafka...),
		kgo.ConsumerGroup(cfg.group),
		kgo.ConsumeTopics(cfg.topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), // the runner commits, with checkpoints: see offsetBook
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(r.onAssigned),
		kgo.OnPartitionsRevoked(r.onRevoked),
		kgo.OnPartitionsLost(r.onLost),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(newPlacer()),
		kgo.ProducerBatchMaxBytes(cfg.maxRecord),
		kgo.FetchMaxBytes(cfg.fetchMax),
		kgo.FetchMaxPartitionBytes(cfg.fetchPartMax),
		// Transaction markers come to collect, which skips them but
		// counts their offsets: a partition whose last record is a
		// marker is then seen read to its end (Behind, Drained).
		kgo.KeepControlRecords(),
		kgo.WithLogger(kgoLogger{r.log}),
	)
	if id := cfg.txnID(); id != "" {
		r.tx = &txn{}
		kopts = append(kopts, kgo.TransactionalID(id), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if cfg.coPartition {
		kopts = append(kopts, kgo.Balancers(kgo.RangeBalancer()))
	}
	if cfg.instanceID != "" {
		kopts = append(kopts, kgo.InstanceID(cfg.instanceID))
	}
	if cfg.session != 0 {
		kopts = append(kopts, kgo.SessionTimeout(cfg.session))
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: runner %s: %w", ErrConfig, name, err)
	}
	r.cl = cl
	return r, nil
}

// Name returns the stage name.
func (r *Runner[T]) Name() string { return r.name }

// abandon releases a runner that will never Run.
func (r *Runner[T]) abandon() { r.cl.Close() }

// Drained reports whether the runner has processed every record its
// input topics held when asked, and had all it produced acknowledged: no
// batch is in flight, and on every partition it has done everything up to
// the end offset. It is meant for a runner alone in its group (tests, the
// demo): with other members it reports false while the partitions they
// own hold records. A stage that holds windows open has still done its
// input; whether it has emitted them is its own metrics' to say.
func (r *Runner[T]) Drained(ctx context.Context) (bool, error) {
	if r.settled.Load() != r.submitted.Load() || (r.tx != nil && r.tx.dirty.Load()) {
		return false, nil
	}
	// A partition this runner has not read since it started is done up to
	// the group's committed offset (a restart that finds nothing new).
	committed, err := kadm.NewClient(r.cl).FetchOffsetsForTopics(ctx, r.cfg.group, r.cfg.topics...)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) { // not found: nothing committed yet
		return false, err
	}
	return reachedEnds(ctx, r.cl, r.cfg.topics, func(tp TopicPartition) int64 {
		r.doneMu.Lock()
		defer r.doneMu.Unlock()
		at := r.done[tp]
		if o, ok := committed.Lookup(tp.Topic, tp.Partition); ok && o.Err == nil {
			at = max(at, o.At)
		}
		return at
	})
}

// Run consumes, processes and produces until ctx ends or a fatal error
// occurs. Then it stops polling, waits up to the drain timeout for the
// outputs of processed batches to be acknowledged, commits their offsets,
// leaves the group and closes the client. It returns nil after a clean
// shutdown on ctx, or the fatal error (an output the brokers refused for
// good, or a failure to start).
func (r *Runner[T]) Run(ctx context.Context) error {
	r.produceCtx, r.cancelProduce = context.WithCancel(context.WithoutCancel(ctx))
	defer r.cancelProduce()
	health := "stage/" + r.name
	r.cfg.health.Set(health, false, "starting")
	defer r.cfg.health.Remove(health)

	if err := r.start(ctx); err != nil {
		r.cl.Close()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if r.tx != nil {
		if err := r.initTxn(ctx); err != nil {
			r.cl.Close()
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	loopCtx, stopLoop := context.WithCancel(ctx)
	r.stopLoop = stopLoop
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		r.commitLoop()
	}()
	tickerDone := make(chan struct{})
	go func() {
		defer close(tickerDone)
		if r.tx == nil { // exactly once commits with its transactions
			r.commitEvery(loopCtx)
		}
	}()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		r.watchStalls(loopCtx)
	}()
	r.pollLoop(loopCtx)
	stopLoop()
	<-tickerDone
	<-watchDone

	// Drain: no more batches; wait for the committer to settle what is in
	// flight, then commit what it marked.
	close(r.inflight)
	drain := time.NewTimer(r.cfg.drainTimeout)
	defer drain.Stop()
	settled := true
	select {
	case <-committed:
	case <-drain.C:
		settled = false
		r.log.Error("drain timeout: unacknowledged batches will be consumed again after restart",
			"unsettled", r.submitted.Load()-r.settled.Load())
		r.cancelProduce()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.drainTimeout)
	if err := r.finalCommit(cctx, settled); err != nil {
		r.log.Error("final commit failed; the last batches will be consumed again", "err", err)
	}
	cancel()
	r.leaveAsStatic(ctx)
	r.cl.CloseAllowingRebalance()
	<-committed
	return r.failErr
}

// finalCommit commits what the settled batches marked, in the transaction
// under way when running exactly once; that transaction is aborted instead
// if some batch is unsettled or failed.
func (r *Runner[T]) finalCommit(ctx context.Context, settled bool) error {
	if r.tx == nil {
		return r.book.commit(ctx, r.cl, r.cfg.group)
	}
	if !settled || r.broken.Load() {
		r.abortTxn(ctx, errors.New("stopping with outputs unacknowledged"))
		return nil
	}
	if r.tx.records.Load() == 0 {
		if err := r.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return err
		}
		return r.book.commit(ctx, r.cl, r.cfg.group)
	}
	err := r.commitTxn(ctx)
	if err != nil {
		r.abortTxn(ctx, err)
	}
	return err
}

// leaveAsStatic makes a static member leave its group on a planned stop.
// A static member does not leave on its own, so that a crashed instance
// restarting under the same id takes its partitions back without a
// rebalance; but an instance stopped on purpose (a rolling update, whose
// new pods have new names) would otherwise hold its partitions, unread,
// for the session timeout.
func (r *Runner[T]) leaveAsStatic(ctx context.Context) {
	if r.cfg.instanceID == "" {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_, err := kadm.NewClient(r.cl).LeaveGroup(lctx, kadm.LeaveGroup(r.cfg.group).InstanceIDs(r.cfg.instanceID).Reason("smaint stopping"))
	if err != nil {
		r.log.Warn("could not leave the group; its partitions wait for the session timeout", "instance_id", r.cfg.instanceID, "err", err)
	}
}

// start creates topics and binds outputs, retrying while the brokers or
// the registry are unreachable, until ctx ends.
func (r *Runner[T]) start(ctx context.Context) error {
	backoff := r.cfg.retryMin
	for attempt := 1; ; attempt++ {
		err := r.startOnce(ctx)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrConfig) || ctx.Err() != nil {
			return err
		}
		r.log.Warn("start failed; retrying", "attempt", attempt, "err", err)
		r.cfg.health.Set("stage/"+r.name, false, "start: "+err.Error())
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, r.cfg.retryMax)
	}
}

func (r *Runner[T]) startOnce(ctx context.Context) error {
	if r.cfg.createTopics && r.restorer != nil { // before the outputs: it is one, and must be compacted
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := EnsureCompacted(tctx, r.cl, r.cfg.partitions, r.cfg.replication, r.restorer.StateTopic())
		cancel()
		if err != nil {
			return err
		}
	}
	if r.cfg.createTopics {
		topics := append(append([]string(nil), r.cfg.topics...), r.cfg.dlq)
		for _, p := range r.outputs {
			topics = append(topics, p.Topic())
		}
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := EnsureTopics(tctx, r.cl, r.cfg.partitions, r.cfg.replication, topics...)
		cancel()
		if err != nil {
			return err
		}
	}
	outs := []string{r.cfg.dlq}
	for _, p := range r.outputs {
		outs = append(outs, p.Topic())
	}
	if err := checkRecordLimits(ctx, r.cl, r.cfg.maxRecord, r.log, outs...); err != nil {
		return err
	}
	if len(r.outputs) > 0 {
		warnNarrowOutputs(ctx, r.cl, r.log, r.cfg.topics, outs[1:])
	}
	for _, p := range r.outputs {
		enc, err := r.cfg.serde.NewEncoder(ctx, p.Schema(), r.cfg.serde.Subject(p.Topic(), p.Schema()))
		if err != nil {
			return fmt.Errorf("output %s: %w", p.Topic(), err)
		}
		p.bind(enc)
	}
	return nil
}

func (r *Runner[T]) pollLoop(ctx context.Context) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, max(time.Millisecond, r.pollWait()))
		fetches := r.cl.PollRecords(pctx, r.cfg.maxBatch)
		cancel()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			// Records of this poll are neither processed nor marked:
			// the next owner of their partitions consumes them again.
			r.cl.AllowRebalance()
			return
		}
		if r.fetchErrors(fetches) == 0 {
			r.setConsuming()
		}

		b := r.getBatch()
		b.em.reset(nil)
		r.collect(ctx, fetches, b)
		if len(r.msgs) > 0 {
			if !r.process(ctx, b) {
				r.cl.AllowRebalance()
				return
			}
		}
		r.maybeTick(ctx, b)
		r.submit(b)
		if due, _ := r.txnDue(); due {
			r.cycleTxn(ctx)
		}
		r.cl.AllowRebalance()
	}
}

// pollWait is how long a poll may wait for records before the runner has
// something else to do: a Tick, a transaction to commit, or at the most
// maxPollWait, so that a rebalance waiting on this member's revoke (the
// client blocks it between polls) is let through even with no input.
func (r *Runner[T]) pollWait() time.Duration {
	wait := maxPollWait
	if r.ticker != nil {
		wait = min(wait, r.lastTick.Add(r.ticker.TickEvery()).Sub(r.cfg.clock.Now()))
	}
	if _, txWait := r.txnDue(); r.tx != nil && r.tx.dirty.Load() {
		wait = min(wait, txWait)
	}
	return wait
}

// maxPollWait bounds a poll that finds no records.
const maxPollWait = 500 * time.Millisecond

// fetchErrors logs the errors of a poll, marks the stage not ready if
// there are any, and returns how many there were.
func (r *Runner[T]) fetchErrors(fetches kgo.Fetches) int {
	n := 0
	fetches.EachError(func(topic string, p int32, err error) {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return // our poll timeout for Tick
		}
		n++
		r.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		r.cfg.health.Set("stage/"+r.name, false, "fetch: "+err.Error())
	})
	return n
}

// collect decodes the polled records into r.msgs (and their raw records
// into r.raw); values that do not decode become dead letters of b.
func (r *Runner[T]) collect(ctx context.Context, fetches kgo.Fetches, b *batch) {
	clear(r.raw)
	r.msgs, r.raw, r.fetched = r.msgs[:0], r.raw[:0], 0
	n := 0
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		r.fetched += len(p.Records)
		for _, rec := range p.Records {
			if rec.Attrs.IsControl() {
				continue
			}
			n++
			r.msgs = append(r.msgs, Msg[T]{})
			m := &r.msgs[len(r.msgs)-1]
			if err := r.decode(ctx, r.dec, rec.Topic, rec.Value, &m.Value); err != nil {
				r.msgs = r.msgs[:len(r.msgs)-1]
				b.em.deadLetter(rec, err)
				continue
			}
			m.Topic, m.Partition, m.Offset, m.Timestamp, m.Key, m.Size = rec.Topic, rec.Partition, rec.Offset, rec.Timestamp, rec.Key, len(rec.Key)+len(rec.Value)
			for _, h := range rec.Headers {
				if h.Key == HeaderReadingID {
					m.ReadingID = string(h.Value)
					break
				}
			}
			r.raw = append(r.raw, rec)
		}
		last := p.Records[len(p.Records)-1]
		tp := TopicPartition{p.Topic, p.Partition}
		end := p.HighWatermark
		if r.tx != nil {
			end = p.LastStableOffset // what read_committed can see
		}
		lag := max(0, end-last.Offset-1)
		r.posMu.Lock()
		r.position[tp] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
		r.backlog[tp] = lag
		r.posMu.Unlock()
		r.met.setLag(tp, lag)
	})
	if n > 0 {
		r.met.in.Add(float64(n))
	}
	b.em.raw = r.raw
}

// process calls the stage on r.msgs until it succeeds, retrying with
// backoff when it returns an error. It returns false if ctx ended first;
// the batch is then abandoned, uncommitted.
func (r *Runner[T]) process(ctx context.Context, b *batch) bool {
	start := time.Now()
	r.busyRecords.Store(int64(len(r.msgs)))
	r.busySince.Store(start.UnixNano())
	defer r.busySince.Store(0)
	// An attempt under way when shutdown begins is let finish, within
	// the drain timeout (a sink's transaction commits rather than being
	// cut off); a failed one is not tried again.
	pctx, cancel := drainContext(ctx, r.cfg.drainTimeout)
	defer cancel()
	mark := b.em.mark()
	backoff := r.cfg.retryMin
	for {
		clear(r.openTxns)
		err := r.callProcess(pctx, &b.em)
		if err == nil && b.em.encErr != nil {
			err = b.em.encErr
		}
		if err == nil {
			r.met.process.Observe(time.Since(start).Seconds())
			return true
		}
		b.em.discard(mark)
		if ctx.Err() != nil {
			return false
		}
		r.met.retries.Inc()
		r.log.Warn("process failed; retrying batch", "records", len(r.msgs), "backoff", backoff, "err", err)
		if !sleep(ctx, backoff) {
			return false
		}
		backoff = min(2*backoff, r.cfg.retryMax)
	}
}

// callProcess runs Process, turning a panic that escapes it into dead
// letters for every input of the batch: the batch's emitted outputs are
// dropped, since a stage that panicked midway cannot vouch for them.
func (r *Runner[T]) callProcess(ctx context.Context, em *Emitter) (err error) {
	mark := em.mark()
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("stage panicked; dead-lettering the batch", "records", len(r.msgs), "panic", p, "stack", string(debug.Stack()))
			em.deadLetterAll(mark, len(r.msgs), p)
			err = nil
		}
	}()
	return r.stage.Process(ctx, r.msgs, em)
}

func (r *Runner[T]) maybeTick(ctx context.Context, b *batch) {
	if r.ticker == nil {
		return
	}
	now := r.cfg.clock.Now()
	if now.Sub(r.lastTick) < r.ticker.TickEvery() {
		return
	}
	r.lastTick = now
	b.em.raw = nil
	mark := b.em.mark()
	defer func() {
		if p := recover(); p != nil {
			b.em.discard(mark)
			r.log.Error("stage panicked in Tick", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	clear(r.openTxns)
	r.ticker.Tick(ctx, now, &b.em)
}

// submit hands b's records to the client and b to the committer. Offsets
// to mark are the current positions, held back to what the stage retains.
func (r *Runner[T]) submit(b *batch) {
	b.polled = time.Now()
	clear(r.marks)
	r.posMu.Lock()
	b.setReached(r.position)
	for tp, eo := range r.position {
		m := mark{eo: eo}
		if r.checkpointer != nil {
			m.meta = r.checkpointer.Checkpoint(tp)
		}
		r.marks[tp] = m
	}
	r.posMu.Unlock()
	if r.retainer != nil {
		for tp, off := range r.retainer.Retained() {
			if m, ok := r.marks[tp]; ok && off < m.eo.Offset {
				m.eo.Offset = off
				r.marks[tp] = m
			}
		}
	}
	b.setOffsets(r.marks)
	recs := b.em.recs
	if r.tx != nil && (len(recs) > 0 || r.fetched > 0) {
		r.tx.records.Add(int64(len(recs)))
		r.tx.dirty.Store(true)
	}
	b.arm(len(recs))
	for i := range recs {
		r.cl.Produce(r.produceCtx, &recs[i], b.promise)
	}
	b.release()
	r.met.inflight.Inc()
	r.submitted.Add(1)
	r.inflight <- b
}

// commitLoop settles batches in the order they were submitted: it waits
// for each batch's acknowledgements and marks its offsets for commit.
// After a batch fails, nothing more is marked: committing past it would
// lose its outputs.
func (r *Runner[T]) commitLoop() {
	broken := false
	for b := range r.inflight {
		r.ackSince.Store(b.polled.UnixNano())
		<-b.done
		r.ackSince.Store(0)
		r.met.inflight.Dec()
		if len(b.refused) > 0 && b.failure() == nil {
			r.deadLetterRefused(b)
		}
		if err := b.failure(); err != nil && !broken {
			broken = true
			r.broken.Store(true)
			if r.produceCtx.Err() == nil {
				r.fail(fmt.Errorf("%w: stage %s: %w", ErrProduce, r.name, err))
			}
		}
		if !broken {
			r.book.mark(b.offsets)
			r.doneMu.Lock()
			for tp, off := range b.reached {
				r.done[tp] = max(r.done[tp], off)
			}
			r.doneMu.Unlock()
			r.met.ack.Observe(time.Since(b.polled).Seconds())
			for i := range b.em.recs {
				if t := b.em.recs[i].Topic; t != r.cfg.dlq {
					r.met.outCounter(t).Inc()
				}
			}
			for k, n := range b.em.dlq {
				if n > 0 {
					r.met.dlq[k].Add(float64(n))
				}
			}
		}
		r.settle()
		r.putBatch(b)
	}
}

// deadLetterRefused sends the records of b that the brokers refused for
// what they are to the dead-letter topic instead, truncated to fit, and
// waits for them: a record no retry can place must not stop the stage
// (and, restarted, stop it again). If the dead letters fail too, so does b.
func (r *Runner[T]) deadLetterRefused(b *batch) {
	dls := make([]*kgo.Record, 0, len(b.refused))
	for _, f := range b.refused {
		kind, sentinel := KindRefused, ErrRefused
		if errorKind(f.err) == 5 {
			kind, sentinel = KindTooLarge, ErrTooLarge
		}
		err := fmt.Errorf("%w: the brokers refused an output for %s: %w", sentinel, f.rec.Topic, f.err)
		b.em.dlq[errorKind(err)]++
		r.log.Warn("output refused by the brokers; sent to the dead-letter topic", "topic", f.rec.Topic, "bytes", len(f.rec.Value), "err", f.err)
		hs := []kgo.RecordHeader{
			{Key: HeaderStage, Value: []byte(r.name)},
			{Key: HeaderError, Value: []byte(err.Error())},
			{Key: HeaderErrorKind, Value: []byte(kind)},
			{Key: HeaderTargetTopic, Value: []byte(f.rec.Topic)},
			{Key: HeaderFailedAt, Value: r.cfg.clock.Now().UTC().AppendFormat(nil, time.RFC3339Nano)},
		}
		dl := b.em.fit(kgo.Record{Topic: r.cfg.dlq, Key: f.rec.Key, Value: f.rec.Value, Headers: hs})
		dls = append(dls, &dl)
	}
	if r.tx != nil {
		r.tx.records.Add(int64(len(dls)))
	}
	if err := r.cl.ProduceSync(r.produceCtx, dls...).FirstErr(); err != nil {
		b.errMu.Lock()
		if b.err == nil {
			b.err = fmt.Errorf("dead-lettering refused outputs: %w", err)
		}
		b.errMu.Unlock()
	}
}

func (r *Runner[T]) settle() {
	r.settled.Add(1)
	r.settledMu.Lock()
	close(r.settledCh)
	r.settledCh = make(chan struct{})
	r.settledMu.Unlock()
}

// waitSettled waits until every submitted batch is settled, or ctx ends,
// or the drain timeout passes.
func (r *Runner[T]) waitSettled(ctx context.Context) bool {
	deadline := time.NewTimer(r.cfg.drainTimeout)
	defer deadline.Stop()
	for {
		r.settledMu.Lock()
		ch := r.settledCh
		r.settledMu.Unlock()
		if r.settled.Load() >= r.submitted.Load() {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		}
	}
}

func (r *Runner[T]) fail(err error) {
	r.failOnce.Do(func() {
		r.failErr = err
		r.log.Error("runner stopping", "err", err)
		r.stopLoop()
	})
}

func (r *Runner[T]) getBatch() *batch {
	select {
	case b := <-r.free:
		return b
	default:
	}
	b := newBatch()
	b.em.stage, b.em.dlqTopic, b.em.now, b.em.behind, b.em.maxRecord = r.name, r.cfg.dlq, r.cfg.clock.Now, r.behind, int(r.cfg.maxRecord)
	return b
}

// behind reports whether tp's last fetch ended short of its high
// watermark or, reading committed records only, whether a transaction is
// open on tp (Emitter.Behind).
func (r *Runner[T]) behind(ctx context.Context, tp TopicPartition) bool {
	r.posMu.Lock()
	backlog := r.backlog[tp]
	r.posMu.Unlock()
	return backlog > 0 || (r.tx != nil && r.openTxn(ctx, tp))
}

// openTxn reports whether tp's last stable offset is short of its high
// watermark: records past it wait on a transaction still open. The
// broker is asked once per topic per Process or Tick call, for all its
// partitions; a partition it could not answer for counts as no. If ctx
// has ended (shutdown), the answer is yes: nothing is closed on the way
// out for want of an answer.
func (r *Runner[T]) openTxn(ctx context.Context, tp TopicPartition) bool {
	if ctx.Err() != nil {
		return true
	}
	open, ok := r.openTxns[tp.Topic]
	if !ok {
		open = r.askOpenTxns(ctx, tp.Topic)
		if r.openTxns == nil {
			r.openTxns = map[string]map[int32]bool{}
		}
		r.openTxns[tp.Topic] = open
	}
	return open[tp.Partition]
}

// askOpenTxns returns the partitions of topic with a transaction open,
// within openTxnTimeout.
func (r *Runner[T]) askOpenTxns(ctx context.Context, topic string) map[int32]bool {
	ctx, cancel := context.WithTimeout(ctx, openTxnTimeout)
	defer cancel()
	adm := kadm.NewClient(r.cl)
	end, err := adm.ListEndOffsets(ctx, topic)
	if err != nil && len(end) == 0 {
		r.log.Debug("asking for high watermarks failed", "topic", topic, "err", err)
		return nil
	}
	stable, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil && len(stable) == 0 {
		r.log.Debug("asking for last stable offsets failed", "topic", topic, "err", err)
		return nil
	}
	open := map[int32]bool{}
	for p, e := range end[topic] {
		s, ok := stable.Lookup(topic, p)
		if ok && e.Err == nil && s.Err == nil && s.Offset < e.Offset {
			open[p] = true
		}
	}
	return open
}

// openTxnTimeout bounds openTxn's questions to the broker.
const openTxnTimeout = 5 * time.Second

func (r *Runner[T]) putBatch(b *batch) {
	b.em.reset(nil)
	select {
	case r.free <- b:
	default:
	}
}

// onAssigned runs while polling is blocked. A Checkpointer stage gets the
// checkpoints committed with the offsets consumption resumes from.
func (r *Runner[T]) onAssigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	r.log.Info("partitions assigned", "partitions", assigned)
	if r.restorer != nil {
		r.restore(ctx, assigned)
	}
	if r.checkpointer != nil {
		cps, err := committedCheckpoints(ctx, cl, r.cfg.group, assigned)
		if err != nil {
			// Without its checkpoint a partition resumes as if new; its
			// first windows may come out partial. Say so loudly.
			r.log.Error("reading checkpoints failed; resuming without them", "err", err)
		}
		for t, ps := range assigned {
			for _, p := range ps {
				tp := TopicPartition{t, p}
				r.checkpointer.Resume(tp, cps[tp])
			}
		}
	}
	r.cfg.health.Set("stage/"+r.name, true, "assigned")
}

// onRevoked runs while polling is blocked: it waits for in-flight batches,
// commits what they marked, and lets the stage drop the partitions' state.
func (r *Runner[T]) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if r.tx != nil {
		// Commit the transaction while the partitions are still ours
		// (aborting and rewinding if that fails), then drop them.
		if r.tx.dirty.Load() {
			r.cycleTxn(ctx)
		}
		r.dropPartitions(ctx, revoked)
		return
	}
	if !r.waitSettled(ctx) {
		r.log.Warn("revoking before every batch was acknowledged; some input will be consumed again")
	}
	if err := r.book.commit(ctx, cl, r.cfg.group); err != nil {
		r.log.Warn("commit on revoke failed; some input will be consumed again", "err", err)
	}
	r.dropPartitions(ctx, revoked)
}

// onLost drops the state of partitions taken away without a chance to
// commit (a session timeout, say).
func (r *Runner[T]) onLost(ctx context.Context, _ *kgo.Client, lost map[string][]int32) {
	r.log.Warn("partitions lost", "partitions", lost)
	r.dropPartitions(ctx, lost)
}

func (r *Runner[T]) dropPartitions(ctx context.Context, m map[string][]int32) {
	var tps []TopicPartition
	r.posMu.Lock()
	for t, ps := range m {
		for _, p := range ps {
			tp := TopicPartition{t, p}
			delete(r.position, tp)
			delete(r.backlog, tp)
			tps = append(tps, tp)
		}
	}
	r.posMu.Unlock()
	r.doneMu.Lock()
	for _, tp := range tps {
		delete(r.done, tp)
	}
	r.doneMu.Unlock()
	r.book.forget(tps)
	if r.revoker != nil && len(tps) > 0 {
		r.revoker.Revoked(ctx, tps)
	}
}

// commitEvery commits what is marked every CommitInterval until ctx ends.
func (r *Runner[T]) commitEvery(ctx context.Context) {
	Every(ctx, r.cfg.commitEvery, func() { r.commitMarked(ctx) })
}

// Every calls fn every d until ctx ends; it blocks until then.
func Every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// commitMarked commits what is marked. A failure is logged and left for
// the next attempt: a rebalance in progress is normal, since the revoke
// callback commits in the right generation.
func (r *Runner[T]) commitMarked(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.commitEvery*5)
	err := r.book.commit(cctx, r.cl, r.cfg.group)
	cancel()
	switch {
	case err == nil, errors.Is(err, errNotInGroup), ctx.Err() != nil:
	case errors.Is(err, kerr.RebalanceInProgress), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.UnknownMemberID):
		r.log.Info("commit skipped during a rebalance", "err", err)
	default:
		r.log.Warn("commit failed; retrying", "err", err)
	}
}

// drainContext returns a context that ctx's end does not cancel until
// grace later: work under way at shutdown gets that long to finish.
func drainContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(dctx, func() { t.Stop() })
	})
	return dctx, func() {
		stop()
		cancel()
	}
}

// sleep waits d or until ctx ends, reporting whether it waited the whole d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// kgoLogger sends franz-go's logs, from warnings up, to slog.
type kgoLogger struct{ l *slog.Logger }

func (kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lvl := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		lvl = slog.LevelError
	case kgo.LogLevelWarn:
		lvl = slog.LevelWarn
	case kgo.LogLevelInfo:
		lvl = slog.LevelInfo
	}
	k.l.Log(context.Background(), lvl, "kafka: "+msg, keyvals...)
}

// restore hands the stage its state entries for the assigned partitions:
// the same partitions of its state topic, read from their start. An entry
// that does not decode is skipped with an error logged; a topic that
// cannot be read is retried until ctx ends, since processing without the
// state would give wrong results.
func (r *Runner[T]) restore(ctx context.Context, assigned map[string][]int32) {
	topic, dec := r.restorer.StateTopic(), r.cfg.serde.NewDecoder()
	for t, ps := range assigned {
		for backoff := r.cfg.retryMin; ; backoff = min(2*backoff, r.cfg.retryMax) {
			n := 0
			err := readPartitions(ctx, topic, ps, true, func(rec *kgo.Record) {
				var st schemas.StageState
				if err := dec.Decode(ctx, rec.Value, &st); err != nil {
					r.log.Error("state entry skipped: it does not decode", "topic", topic, "partition", rec.Partition, "offset", rec.Offset, "err", err)
					return
				}
				r.restorer.Restore(TopicPartition{t, rec.Partition}, st.Key, st.Value)
				n++
			}, r.cfg.kafka...)
			if err == nil {
				r.log.Info("state restored", "topic", topic, "partitions", ps, "entries", n)
				break
			}
			r.log.Warn("reading the state topic failed; trying again", "topic", topic, "err", err, "in", backoff)
			if !sleep(ctx, backoff) {
				return
			}
		}
	}
}
