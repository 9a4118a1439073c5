package features

// maxPooledSamples bounds the buffers a samplePool keeps.
const maxPooledSamples = 4096

// samplePool keeps the sample buffers of closed spectral windows for the
// windows that open next. A sensor's next window needs about as many
// samples as its last, so a buffer is allocated once and reused, instead
// of regrown from empty for every window (which also doubled the garbage
// a close leaves). It is used by one goroutine.
type samplePool struct{ free [][]sample }

// get returns an empty buffer, with room if one was pooled.
func (sp *samplePool) get() []sample {
	n := len(sp.free)
	if n == 0 {
		return nil
	}
	b := sp.free[n-1]
	sp.free[n-1] = nil
	sp.free = sp.free[:n-1]
	return b
}

// put keeps b, emptied, for a later get, unless the pool is full or b has
// no room.
func (sp *samplePool) put(b []sample) {
	if cap(b) > 0 && len(sp.free) < maxPooledSamples {
		sp.free = append(sp.free, b[:0])
	}
}
