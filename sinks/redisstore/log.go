package redisstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/stages/dedupe"
)

// LogStore is a dedupe.LogStore on Redis. A partition's log is a list per
// TTL-long time bucket; each batch appends one element holding all its
// ids, so a batch costs one RPUSH. A bucket expires two TTLs after it
// started, by when every id in it is older than the TTL.
type LogStore struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewLogStore returns a dedupe.LogStore on rdb whose keys start with prefix
// ("" means "smaint:dedupe:log:").
func NewLogStore(rdb redis.UniversalClient, prefix string) *LogStore {
	if prefix == "" {
		prefix = "smaint:dedupe:log:"
	}
	return &LogStore{rdb: rdb, prefix: prefix}
}

// key names the list of tp for the bucket holding t. The hash tag keeps a
// partition's buckets on one Redis Cluster slot.
func (s *LogStore) key(tp pipeline.TopicPartition, bucket int64) string {
	return s.prefix + "{" + tp.Topic + "/" + strconv.Itoa(int(tp.Partition)) + "}:" + strconv.FormatInt(bucket, 10)
}

func bucketOf(t time.Time, ttl time.Duration) int64 { return t.UnixNano() / int64(ttl) }

// Append implements dedupe.LogStore with one round trip: an RPUSH and an
// EXPIREAT per partition.
func (s *LogStore) Append(ctx context.Context, seenAt time.Time, ttl time.Duration, entries map[pipeline.TopicPartition][]dedupe.LogEntry) error {
	b := bucketOf(seenAt, ttl)
	expireAt := time.Unix(0, (b+2)*int64(ttl)).Add(time.Second)
	pipe := s.rdb.Pipeline()
	for tp, es := range entries {
		if len(es) == 0 {
			continue
		}
		key := s.key(tp, b)
		pipe.RPush(ctx, key, encodeLogBlock(seenAt, es))
		pipe.ExpireAt(ctx, key, expireAt)
	}
	if pipe.Len() == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Restore implements dedupe.LogStore.
func (s *LogStore) Restore(ctx context.Context, tp pipeline.TopicPartition, since time.Time, ttl time.Duration, fn func(dedupe.LogEntry, time.Time)) error {
	for b := bucketOf(since, ttl); b <= bucketOf(since.Add(ttl), ttl); b++ {
		blocks, err := s.rdb.LRange(ctx, s.key(tp, b), 0, -1).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("redis: %w", err)
		}
		for _, blk := range blocks {
			if err := decodeLogBlock([]byte(blk), since, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// A log block is: seenAt (unix nanoseconds, varint), count (uvarint), then
// count times: id length (uvarint), id bytes, offset (varint).
func encodeLogBlock(seenAt time.Time, entries []dedupe.LogEntry) []byte {
	n := 10 + 10
	for _, e := range entries {
		n += len(e.ID) + 12
	}
	b := make([]byte, 0, n)
	b = binary.AppendVarint(b, seenAt.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(e.ID)))
		b = append(b, e.ID...)
		b = binary.AppendVarint(b, e.Offset)
	}
	return b
}

var errBadBlock = errors.New("redisstore: corrupt dedupe log block")

func decodeLogBlock(b []byte, since time.Time, fn func(dedupe.LogEntry, time.Time)) error {
	ns, k := binary.Varint(b)
	if k <= 0 {
		return errBadBlock
	}
	b = b[k:]
	seenAt := time.Unix(0, ns)
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return errBadBlock
	}
	b = b[k:]
	skip := !seenAt.After(since)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return errBadBlock
		}
		id := b[k : k+int(l)]
		b = b[k+int(l):]
		off, k := binary.Varint(b)
		if k <= 0 {
			return errBadBlock
		}
		b = b[k:]
		if !skip {
			fn(dedupe.LogEntry{ID: string(id), Offset: off}, seenAt)
		}
	}
	if len(b) != 0 {
		return errBadBlock
	}
	return nil
}
