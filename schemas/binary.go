package schemas

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// This file holds the Avro binary primitives the hand-written record codecs
// are built from. They follow the Avro 1.11 specification ("Binary
// Encoding"): zig-zag varints for int and long, little-endian IEEE 754 for
// double, length-prefixed UTF-8 for string, and blocked encoding for maps
// and arrays. Tests check every record codec byte-for-byte against goavro.

func appendLong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

func appendInt(b []byte, v int32) []byte { return appendLong(b, int64(v)) }

func appendDouble(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendString(b []byte, s string) []byte {
	b = appendLong(b, int64(len(s)))
	return append(b, s...)
}

// appendTime writes a timestamp-micros. The zero time.Time is written as 0
// and 0 reads back as the zero time.Time, so an unset time round-trips.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return appendLong(b, t.UnixMicro())
}

// appendStringMap and appendDoubleMap write a map's entries in key order,
// not Go's random iteration order: the same record always encodes to the
// same bytes, so a replayed output is byte for byte the first one.
func appendStringMap(b []byte, m map[string]string) []byte {
	if len(m) > 0 {
		b = appendLong(b, int64(len(m)))
		var buf [16]string
		for _, k := range sortedKeys(buf[:0], m) {
			b = appendString(b, k)
			b = appendString(b, m[k])
		}
	}
	return append(b, 0)
}

func appendDoubleMap(b []byte, m map[string]float64) []byte {
	if len(m) > 0 {
		b = appendLong(b, int64(len(m)))
		var buf [16]string
		for _, k := range sortedKeys(buf[:0], m) {
			b = appendString(b, k)
			b = appendDouble(b, m[k])
		}
	}
	return append(b, 0)
}

// sortedKeys appends m's keys to dst, sorted.
func sortedKeys[V any](dst []string, m map[string]V) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

func appendDoubleArray(b []byte, a []float64) []byte {
	if len(a) > 0 {
		b = appendLong(b, int64(len(a)))
		for _, v := range a {
			b = appendDouble(b, v)
		}
	}
	return append(b, 0)
}

// reader decodes Avro binary from a byte slice. The first error sticks:
// later reads return zero values, so a record decoder reads every field and
// checks err once at the end. Strings read with istr are interned.
type reader struct {
	b      []byte
	off    int
	err    error
	intern *Interner
	few    *Interner // for fields with a handful of values (types, units)
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%w at byte %d", err, r.off)
	}
}

func (r *reader) long() int64 {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if r.off >= len(r.b) {
			r.fail(ErrTruncated)
			return 0
		}
		c := r.b[r.off]
		r.off++
		if shift == 63 && c > 1 {
			r.fail(fmt.Errorf("%w: varint overflows 64 bits", ErrMalformed))
			return 0
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1)
		}
	}
	r.fail(fmt.Errorf("%w: varint too long", ErrMalformed))
	return 0
}

func (r *reader) int() int32 {
	v := r.long()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail(fmt.Errorf("%w: int out of range", ErrMalformed))
		return 0
	}
	return int32(v)
}

func (r *reader) double() float64 {
	if len(r.b)-r.off < 8 {
		r.fail(ErrTruncated)
		r.off = len(r.b)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off:]))
	r.off += 8
	return v
}

func (r *reader) boolean() bool {
	if r.off >= len(r.b) {
		r.fail(ErrTruncated)
		return false
	}
	c := r.b[r.off]
	r.off++
	if c > 1 {
		r.fail(fmt.Errorf("%w: boolean byte %#x", ErrMalformed, c))
	}
	return c == 1
}

// bytes returns the next length-prefixed byte string, aliasing r.b.
func (r *reader) bytes() []byte {
	n := r.long()
	if r.err != nil {
		return nil
	}
	if n < 0 {
		r.fail(fmt.Errorf("%w: negative length %d", ErrMalformed, n))
		return nil
	}
	if n > int64(len(r.b)-r.off) {
		r.fail(ErrTruncated)
		r.off = len(r.b)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

func (r *reader) str() string { return string(r.bytes()) }

// istr reads a string that is likely to repeat across records (ids of
// sensors and assets, types, units, tag keys) through the interner.
func (r *reader) istr() string {
	b := r.bytes()
	if r.intern == nil {
		return string(b)
	}
	return r.intern.String(b)
}

// fstr is istr for fields with few distinct values (sensor types, units,
// detector names): their own small table stays in cache, where the ids of
// thousands of sensors would push them out.
func (r *reader) fstr() string {
	if r.few == nil {
		return r.istr()
	}
	return r.few.String(r.bytes())
}

func (r *reader) time() time.Time {
	v := r.long()
	if r.err != nil || v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func (r *reader) enum(symbols int) int {
	v := r.long()
	if r.err == nil && (v < 0 || v >= int64(symbols)) {
		r.fail(fmt.Errorf("%w: enum index %d of %d symbols", ErrMalformed, v, symbols))
		return 0
	}
	return int(v)
}

// blockLen reads the item count of the next map or array block. A negative
// count is followed by the block's size in bytes, which is skipped over
// as the specification allows. Counts are checked against the bytes left
// (every item takes at least minItem bytes) so a forged count cannot make
// the decoder allocate more than the input could hold.
func (r *reader) blockLen(minItem int) int {
	n := r.long()
	if n < 0 {
		if n == math.MinInt64 {
			r.fail(fmt.Errorf("%w: block count overflow", ErrMalformed))
			return 0
		}
		n = -n
		r.long() // block size in bytes
	}
	if r.err != nil {
		return 0
	}
	if n > int64(len(r.b)-r.off)/int64(minItem) {
		r.fail(fmt.Errorf("%w: block of %d items", ErrTruncated, n))
		return 0
	}
	return int(n)
}

func (r *reader) stringMap() map[string]string {
	var m map[string]string
	for {
		n := r.blockLen(2)
		if n == 0 || r.err != nil {
			return m
		}
		if m == nil {
			m = make(map[string]string, n)
		}
		for range n {
			k := r.fstr()
			m[k] = r.istr()
		}
	}
}

func (r *reader) doubleMap() map[string]float64 {
	var m map[string]float64
	for {
		n := r.blockLen(9)
		if n == 0 || r.err != nil {
			return m
		}
		if m == nil {
			m = make(map[string]float64, n)
		}
		for range n {
			k := r.fstr()
			m[k] = r.double()
		}
	}
}

func (r *reader) doubleArray() []float64 {
	var a []float64
	for {
		n := r.blockLen(8)
		if n == 0 || r.err != nil {
			return a
		}
		a = append(a, make([]float64, n)...)[:len(a)]
		for range n {
			a = append(a, r.double())
		}
	}
}

// end reports the reader's error, or ErrMalformed when bytes are left over
// after the record: a framed Kafka value holds exactly one datum.
func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail(fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(r.b)-r.off))
	}
	return r.err
}
