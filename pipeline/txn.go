package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Exactly once (ExactlyOnce).
//
// The runner reads its inputs read_committed and writes in Kafka
// transactions. A transaction spans the batches of one CommitInterval:
// their outputs and dead letters, then the input offsets they reached
// (held back to what the stage retains) with the stage's checkpoints,
// committed with TxnOffsetCommit in the same transaction. All of it
// becomes visible together, or none of it does:
//
//   - a crash leaves the transaction open; the instance restarted under
//     the same transactional id aborts it when it starts, and resumes
//     from the offsets and checkpoints of the last committed transaction,
//     so what it emits again replaces, never repeats, what was lost;
//   - a transaction that fails to commit is aborted, and the runner
//     rewinds: it drops the stage's state of every partition it owns and
//     resumes them from their committed offsets and checkpoints, as a new
//     owner would (rewind).
//
// Transactions end only where no batch is being produced: in the poll
// loop between batches, in the revoke callback (polling is blocked then),
// and at shutdown. Side effects outside Kafka (a database, a webhook) are
// not in the transaction: after an abort or a crash they happen again, so
// they must be idempotent, as the sinks are.

// offsetCommitTimeout bounds adding a transaction's offsets.
const offsetCommitTimeout = 5 * time.Second

// txnEndTimeout bounds ending a transaction, committing or aborting, once
// it has begun to end: a stop does not cut an ending short (its outcome
// would be unknown), it waits this long at most.
const txnEndTimeout = 10 * time.Second

// txn is the state of the transaction under way.
type txn struct {
	began   time.Time    // poll goroutine only
	dirty   atomic.Bool  // a batch was submitted since the last commit
	records atomic.Int64 // records produced in the transaction
}

// txnDue reports whether the transaction under way should be committed
// now, and otherwise how long until it should (0: nothing to commit).
func (r *Runner[T]) txnDue() (bool, time.Duration) {
	if r.tx == nil || !r.tx.dirty.Load() {
		return false, 0
	}
	wait := r.tx.began.Add(r.cfg.commitEvery).Sub(time.Now())
	return wait <= 0, wait
}

// initTxn takes the transactional id and begins the first transaction.
// Taking the id (InitProducerID) aborts a transaction a crashed instance
// left open under it, at once: until then, the group's offsets it was
// committing are unstable, and neither this runner nor a reader of its
// outputs could go on.
func (r *Runner[T]) initTxn(ctx context.Context) error {
	if _, _, err := r.cl.ProducerID(ctx); err != nil {
		return fmt.Errorf("%w: stage %s: take the transactional id %s: %w", ErrProduce, r.name, r.cfg.txnID(), err)
	}
	return r.beginTxn()
}

func (r *Runner[T]) beginTxn() error {
	r.tx.began = time.Now()
	if err := r.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("%w: stage %s: begin a transaction: %w", ErrProduce, r.name, err)
	}
	return nil
}

// cycleTxn commits the transaction under way and begins the next. If the
// commit fails, it aborts the transaction and rewinds. If batches are
// still unacknowledged when ctx ends it leaves the transaction open (the
// caller is stopping; Run ends it). A runner that cannot begin a new
// transaction (fenced by another instance with its id) fails.
func (r *Runner[T]) cycleTxn(ctx context.Context) {
	if !r.waitSettled(ctx) || r.broken.Load() {
		return
	}
	if r.tx.records.Load() == 0 {
		// Nothing was produced, so Kafka has no transaction to put the
		// offsets in: they are committed alone, retried next time if
		// that fails, and the client's empty transaction ended.
		r.tx.dirty.Store(false)
		ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), txnEndTimeout)
		err := r.cl.EndTransaction(ectx, kgo.TryCommit)
		cancel()
		if err != nil {
			r.fail(fmt.Errorf("%w: stage %s: end an empty transaction: %w", ErrProduce, r.name, err))
			return
		}
		r.commitMarked(ctx)
	} else if err := r.commitTxn(ctx); err != nil {
		if r.abortTxn(ctx, err); r.broken.Load() {
			return // the abort failed: the runner stops
		}
		r.rewind(ctx)
	}
	if err := r.beginTxn(); err != nil {
		r.fail(err)
	}
}

// commitTxn commits the transaction under way, which produced records,
// with the offsets and checkpoints of every batch settled so far; the
// caller has waited for them.
func (r *Runner[T]) commitTxn(ctx context.Context) error {
	r.tx.dirty.Store(false)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), txnEndTimeout)
	defer cancel()
	pend := r.book.pending()
	err := r.cl.Flush(ctx)
	if err == nil {
		// Bounded: during a rebalance the group refuses the offsets until
		// this member rejoins, which it does only once the poll loop, in
		// which this runs, lets it. Failing here aborts and rewinds.
		octx, cancel := context.WithTimeout(ctx, offsetCommitTimeout)
		err = r.commitTxnOffsets(octx, pend)
		cancel()
	}
	if err == nil {
		err = r.cl.EndTransaction(ctx, kgo.TryCommit)
	}
	if err != nil {
		return err
	}
	for tp, m := range pend {
		r.book.done(tp, m)
	}
	r.tx.records.Store(0)
	r.met.txnsOK.Inc()
	return nil
}

// abortTxn aborts the transaction under way, whose outputs will never be
// seen by a reader of committed records.
func (r *Runner[T]) abortTxn(ctx context.Context, cause error) {
	r.log.Warn("transaction not committed; aborting it", "err", cause)
	r.tx.dirty.Store(false)
	r.tx.records.Store(0)
	r.met.aborts.Inc()
	// Not cut short by a stop: an abort left half done leaves the client
	// in the transaction, and nothing may commit it after this.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), txnEndTimeout)
	defer cancel()
	err := r.cl.AbortBufferedRecords(ctx)
	if err == nil {
		// An abort may itself be refused for a moment (the coordinator
		// busy, the producer id being reloaded): it is retried, as the
		// client asks, until it goes through.
		for try := 0; ; try++ {
			if err = r.cl.EndTransaction(ctx, kgo.TryAbort); err == nil || try == 5 || !sleep(ctx, time.Duration(50<<try)*time.Millisecond) {
				break
			}
		}
	}
	if err != nil {
		// The broker aborts it at the transaction timeout, or when this
		// id begins again (a restart takes the id at once). Until then
		// the runner must not end it any other way: a later commit would
		// make its outputs visible without the offsets that go with them,
		// and they would be produced again. So it stops.
		r.log.Warn("aborting the transaction failed; stopping, the brokers abort it", "err", err)
		r.broken.Store(true)
		r.fail(fmt.Errorf("%w: stage %s: abort a transaction: %w", ErrProduce, r.name, err))
	}
}

// rewind resumes every partition the runner owns from the offsets and
// checkpoints last committed, after an aborted transaction: the stage's
// state of those partitions holds input whose outputs were aborted, so it
// is dropped, as on a revoke, and rebuilt from the committed positions, as
// by a new owner. It is called where no batch is in flight. If the
// committed positions cannot be read, the runner fails, and its restart
// resumes from them.
func (r *Runner[T]) rewind(ctx context.Context) {
	owned := map[string][]int32{}
	r.posMu.Lock()
	for tp := range r.position {
		owned[tp.Topic] = append(owned[tp.Topic], tp.Partition)
	}
	r.posMu.Unlock()
	if len(owned) == 0 {
		return
	}
	r.dropPartitions(ctx, owned)
	marks, err := committedMarks(ctx, r.cl, r.cfg.group, owned)
	var starts kadm.ListedOffsets
	if err == nil {
		starts, err = kadm.NewClient(r.cl).ListStartOffsets(ctx, topicsOf(owned)...)
	}
	if err != nil {
		r.fail(fmt.Errorf("%w: stage %s: rewinding after an aborted transaction: %w", ErrProduce, r.name, err))
		return
	}
	set := map[string]map[int32]kgo.EpochOffset{}
	for t, ps := range owned {
		set[t] = map[int32]kgo.EpochOffset{}
		for _, p := range ps {
			tp := TopicPartition{t, p}
			m, ok := marks[tp]
			if !ok {
				m.eo = kgo.EpochOffset{Epoch: -1}
				if s, found := starts.Lookup(t, p); found {
					m.eo.Offset = s.Offset
				}
			}
			set[t][p] = m.eo
			if r.checkpointer != nil {
				r.checkpointer.Resume(tp, m.meta)
			}
		}
	}
	r.log.Info("rewound to the last committed transaction", "partitions", owned)
	r.cl.SetOffsets(set)
}

func topicsOf(m map[string][]int32) []string {
	ts := make([]string, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	return ts
}

// commitTxnOffsets adds the group's offsets to the transaction under way:
// pend's positions, with the stage's checkpoints as their metadata. As in
// offsetBook.commit, franz-go commits no caller metadata, hence the
// hand-made requests (the client routes AddOffsetsToTxn to the
// transaction coordinator and TxnOffsetCommit to the group coordinator).
// The member and generation fence a zombie (KIP-447): a member that has
// lost its partitions cannot commit them.
func (r *Runner[T]) commitTxnOffsets(ctx context.Context, pend map[TopicPartition]mark) error {
	if len(pend) == 0 {
		return nil
	}
	member, gen := r.cl.GroupMetadata()
	if member == "" || gen < 0 {
		return errNotInGroup
	}
	id, epoch, err := r.cl.ProducerID(ctx)
	if err != nil {
		return err
	}
	txnID := r.cfg.txnID()
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, id, epoch, r.cfg.group
	addResp, err := add.RequestWith(ctx, r.cl)
	if err == nil {
		err = kerr.ErrorForCode(addResp.ErrorCode)
	}
	if err != nil {
		return fmt.Errorf("add offsets to the transaction: %w", err)
	}

	topics := make([]string, 0, len(pend))
	for tp := range pend {
		topics = append(topics, tp.Topic)
	}
	ids, err := r.book.topicIDs(ctx, r.cl, topics)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, r.cfg.group, id, epoch
	req.Generation, req.MemberID = gen, member
	if r.cfg.instanceID != "" {
		req.InstanceID = &r.cfg.instanceID
	}
	byTopic := map[string]int{}
	for tp, m := range pend {
		i, ok := byTopic[tp.Topic]
		if !ok {
			t := kmsg.NewTxnOffsetCommitRequestTopic()
			t.Topic, t.TopicID = tp.Topic, ids[tp.Topic]
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[tp.Topic] = i
		}
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, m.eo.Offset, m.eo.Epoch
		meta := m.meta
		p.Metadata = &meta
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	resp, err := req.RequestWith(ctx, r.cl)
	if err != nil {
		return fmt.Errorf("commit offsets in the transaction: %w", err)
	}
	for _, t := range resp.Topics {
		name := r.book.topicName(t.Topic, t.TopicID)
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				if errors.Is(err, kerr.UnknownTopicID) {
					r.book.forgetID(name)
				}
				return fmt.Errorf("commit offsets in the transaction: %s/%d: %w", name, p.Partition, err)
			}
		}
	}
	return nil
}
