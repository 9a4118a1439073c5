package dedupe

import "github.com/smaint/smaint/schemas"

// uuidKey is a reading id in 16 bytes: the UUID's value, so equal ids
// (in any letter case) have equal keys and different ids never collide.
type uuidKey [16]byte

// parseUUID is schemas.ParseUUID as a cache key.
func parseUUID(s string) (uuidKey, bool) { return schemas.ParseUUID(s) }

// cache remembers the reading ids first seen in one input partition: for
// each, the offset it was first seen at and when. Duplicates arrive on
// their original's partition (readings are keyed by sensor), so a cache
// per partition is enough, and one partition's backlog cannot push
// another's ids out.
//
// It holds two generations of at most half its capacity each; when the
// current one is full, or older than the TTL, the previous one is dropped
// and the current one becomes previous. An id is thus remembered for the
// TTL unless more than half the capacity of newer ids arrived meanwhile.
// A cache is used by one goroutine.
type cache struct {
	cur, prev *idTable
	half      int
	ttl       int64 // nanoseconds
	started   int64 // when cur was started
}

// offElsewhere marks an id first seen at a position this partition does
// not hold (another partition, per the claim store): any sighting of it
// here is a duplicate.
const offElsewhere = -1

func newCache(capacity int, ttlNanos int64) *cache {
	half := max(1, capacity/2)
	return &cache{cur: newIDTable(half), prev: newIDTable(half), half: half, ttl: ttlNanos}
}

// lookup returns where id was first seen, if it is remembered and was
// seen less than the TTL before now.
func (c *cache) lookup(id uuidKey, now int64) (int64, bool) {
	s := c.cur.get(id)
	if s == nil {
		s = c.prev.get(id)
	}
	if s == nil || now-s.seen >= c.ttl {
		return 0, false
	}
	return s.off, true
}

// put remembers id as first seen at offset, at time seen. Rotating
// generations reuses the dropped one's memory, so a full cache allocates
// nothing.
func (c *cache) put(id uuidKey, offset, seen int64) {
	if c.cur.n >= c.half || seen-c.started > c.ttl {
		c.prev.reset()
		c.prev, c.cur = c.cur, c.prev
		c.started = seen
	}
	c.cur.set(id, offset, seen)
}

func (c *cache) len() int { return c.cur.n + c.prev.n }
