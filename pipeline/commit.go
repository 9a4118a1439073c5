package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// mark is a position to commit and the stage's checkpoint at it.
type mark struct {
	eo   kgo.EpochOffset
	meta string
}

// offsetBook tracks, per partition, the position marked as safe to commit
// (every output before it acknowledged) and the position last committed.
// It is safe for concurrent use.
type offsetBook struct {
	mu        sync.Mutex
	marked    map[TopicPartition]mark
	committed map[TopicPartition]mark

	// Topic ids, for OffsetCommit v10+ (which names topics by id). Only the
	// committing goroutine of the moment touches them, under mu.
	ids   map[string][16]byte
	names map[[16]byte]string
}

func newOffsetBook() *offsetBook {
	return &offsetBook{marked: map[TopicPartition]mark{}, committed: map[TopicPartition]mark{},
		ids: map[string][16]byte{}, names: map[[16]byte]string{}}
}

// topicIDs looks up the ids of topics not known yet.
func (b *offsetBook) topicIDs(ctx context.Context, cl *kgo.Client, topics []string) (map[string][16]byte, error) {
	b.mu.Lock()
	var missing []string
	for _, t := range topics {
		if _, ok := b.ids[t]; !ok {
			missing = append(missing, t)
		}
	}
	b.mu.Unlock()
	if len(missing) > 0 {
		details, err := kadm.NewClient(cl).ListTopics(ctx, missing...)
		if err != nil {
			return nil, fmt.Errorf("topic ids: %w", err)
		}
		b.mu.Lock()
		for _, d := range details {
			if d.Err == nil {
				b.ids[d.Topic] = d.ID
				b.names[d.ID] = d.Topic
			}
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string][16]byte, len(topics))
	for _, t := range topics {
		out[t] = b.ids[t]
	}
	return out, nil
}

// topicName names a topic of a response, which may give only its id.
func (b *offsetBook) topicName(topic string, id [16]byte) string {
	if topic != "" {
		return topic
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.names[id]
}

func (b *offsetBook) forgetID(topic string) {
	b.mu.Lock()
	delete(b.names, b.ids[topic])
	delete(b.ids, topic)
	b.mu.Unlock()
}

// mark records ms as committable. Positions only move forward: a mark
// behind the current one is ignored (its checkpoint with it).
func (b *offsetBook) mark(ms map[TopicPartition]mark) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for tp, m := range ms {
		if cur, ok := b.marked[tp]; ok && m.eo.Offset < cur.eo.Offset {
			continue
		}
		b.marked[tp] = m
	}
}

// pending returns the marks not committed yet.
func (b *offsetBook) pending() map[TopicPartition]mark {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[TopicPartition]mark{}
	for tp, m := range b.marked {
		if c, ok := b.committed[tp]; !ok || c != m {
			out[tp] = m
		}
	}
	return out
}

func (b *offsetBook) done(tp TopicPartition, m mark) {
	b.mu.Lock()
	b.committed[tp] = m
	b.mu.Unlock()
}

// forget drops partitions this member no longer owns.
func (b *offsetBook) forget(tps []TopicPartition) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, tp := range tps {
		delete(b.marked, tp)
		delete(b.committed, tp)
	}
}

// errNotInGroup means there is no group generation to commit in yet.
var errNotInGroup = errors.New("not in a group generation")

// commit commits the pending marks, with their checkpoints as the offset
// metadata, in the current generation of group. franz-go's own commits
// carry no caller metadata, hence a hand-made OffsetCommit request; the
// client routes it to the group coordinator. Topics carry both name and
// id, so any request version the broker picks works.
func (b *offsetBook) commit(ctx context.Context, cl *kgo.Client, group string) error {
	pend := b.pending()
	if len(pend) == 0 {
		return nil
	}
	member, gen := cl.GroupMetadata()
	if member == "" || gen < 0 {
		return errNotInGroup
	}
	var topics []string
	for tp := range pend {
		topics = append(topics, tp.Topic)
	}
	ids, err := b.topicIDs(ctx, cl, topics)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = group, gen, member
	byTopic := map[string]int{}
	for tp, m := range pend {
		i, ok := byTopic[tp.Topic]
		if !ok {
			t := kmsg.NewOffsetCommitRequestTopic()
			t.Topic, t.TopicID = tp.Topic, ids[tp.Topic]
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[tp.Topic] = i
		}
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = tp.Partition, m.eo.Offset, m.eo.Epoch
		meta := m.meta
		p.Metadata = &meta
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	var first error
	for _, t := range resp.Topics {
		name := b.topicName(t.Topic, t.TopicID)
		for _, p := range t.Partitions {
			tp := TopicPartition{name, p.Partition}
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				if errors.Is(err, kerr.UnknownTopicID) {
					b.forgetID(name) // recreated: look it up again next time
				}
				if first == nil {
					first = fmt.Errorf("commit %s/%d: %w", tp.Topic, tp.Partition, err)
				}
				continue
			}
			b.done(tp, pend[tp])
		}
	}
	return first
}

// committedCheckpoints returns the metadata committed with group's offsets
// of the given partitions.
func committedCheckpoints(ctx context.Context, cl *kgo.Client, group string, tps map[string][]int32) (map[TopicPartition]string, error) {
	marks, err := committedMarks(ctx, cl, group, tps)
	out := make(map[TopicPartition]string, len(marks))
	for tp, m := range marks {
		out[tp] = m.meta
	}
	return out, err
}

// committedMarks returns group's committed offsets of the given
// partitions, with their metadata; partitions with none are left out.
func committedMarks(ctx context.Context, cl *kgo.Client, group string, tps map[string][]int32) (map[TopicPartition]mark, error) {
	resp, err := kadm.NewClient(cl).FetchOffsetsForTopics(ctx, group, topicsOf(tps)...)
	if err != nil {
		return nil, err
	}
	out := map[TopicPartition]mark{}
	for t, ps := range tps {
		for _, p := range ps {
			if o, ok := resp.Lookup(t, p); ok && o.Err == nil && o.At >= 0 {
				out[TopicPartition{t, p}] = mark{eo: kgo.EpochOffset{Epoch: o.LeaderEpoch, Offset: o.At}, meta: o.Metadata}
			}
		}
	}
	return out, nil
}
