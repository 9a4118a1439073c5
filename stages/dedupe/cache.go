package dedupe

// cache is the in-process memory of reading ids: for each id, the input
// position where it was first seen and when it expires. It holds two
// generations of at most half its capacity each; when the current one is
// full, or older than the TTL, the previous one is dropped and the current
// one becomes previous. An id is thus remembered for at least the TTL
// unless more than half the capacity of newer ids arrived meanwhile.
//
// A cache is used by one goroutine.
type cache struct {
	cur, prev map[string]entry
	half      int
	ttl       int64 // nanoseconds
	started   int64 // when cur was started
}

type entry struct {
	pos     uint64 // packed position, or posElsewhere
	expires int64  // unix nanoseconds
}

// posElsewhere marks an id first seen at a position this instance does not
// know (another instance, or a time before the cache): any sighting of it
// is a duplicate.
const posElsewhere = ^uint64(0)

func newCache(capacity int, ttlNanos int64) *cache {
	half := max(1, capacity/2)
	return &cache{cur: make(map[string]entry, min(half, 1<<16)), prev: map[string]entry{}, half: half, ttl: ttlNanos}
}

// lookup returns the first position recorded for id, if id is remembered
// and unexpired at now.
func (c *cache) lookup(id string, now int64) (uint64, bool) {
	e, ok := c.cur[id]
	if !ok {
		e, ok = c.prev[id]
	}
	if !ok || e.expires <= now {
		return 0, false
	}
	return e.pos, true
}

// put remembers id as first seen at pos, until now+ttl.
func (c *cache) put(id string, pos uint64, now int64) {
	if len(c.cur) >= c.half || now-c.started > c.ttl {
		c.prev, c.cur = c.cur, make(map[string]entry, min(c.half, max(len(c.cur), 1<<10)))
		c.started = now
	}
	c.cur[id] = entry{pos: pos, expires: now + c.ttl}
}

func (c *cache) len() int { return len(c.cur) + len(c.prev) }

// packPos packs a partition and offset into one comparable word.
func packPos(partition int32, offset int64) uint64 {
	return uint64(uint16(partition))<<48 | uint64(offset)&(1<<48-1)
}
