// Package redisstore keeps the dedupe stage's shared state in Redis: the
// per-partition log of first sightings (LogStore) and the per-reading
// claims (ClaimStore), the two implementations of the ports that
// stages/dedupe defines. It also opens Redis clients the way a stream
// wants them: failing fast, so that the stage degrades to its local cache
// instead of waiting on a Redis that is down.
package redisstore
