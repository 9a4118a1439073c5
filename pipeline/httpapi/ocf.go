package httpapi

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"

	"github.com/smaint/smaint/schemas"
)

// An Avro object container file is read here rather than by goavro's
// OCFReader: that one allocates whatever a header or a block says it
// holds, so a 100-byte body could make it ask for gigabytes. Here every
// count and length is checked against the bytes left before anything is
// allocated, inflated blocks are bounded, and the records are decoded by
// schemas' own codec, which bounds them the same way.

// errOCF: the body is not a usable object container file.
var errOCF = errors.New("not a usable Avro object container file")

// ocfMagic starts every object container file.
var ocfMagic = []byte{'O', 'b', 'j', 1}

// readOCF reads the SensorReadings of the container file body, written
// with the SensorReading schema (any version with its canonical form) and
// the null or deflate codec: at most max of them (more: errTooMany, found
// from the blocks' counts before the records are decoded). Inflated
// blocks may total at most maxInflated bytes.
func readOCF(body []byte, max int, maxInflated int64) ([]schemas.SensorReading, error) {
	c := ocfCursor{b: body}
	if !bytes.HasPrefix(body, ocfMagic) {
		return nil, fmt.Errorf("%w: it does not start with Obj\\x01", errOCF)
	}
	c.off = len(ocfMagic)
	meta, err := c.meta()
	if err != nil {
		return nil, err
	}
	w, err := schemas.ParseSchema(string(meta["avro.schema"]))
	if err != nil {
		return nil, fmt.Errorf("%w: its schema: %v", errOCF, err)
	}
	if w.Fingerprint() != schemas.SensorReadingSchema.Fingerprint() {
		return nil, fmt.Errorf("%w: its schema is %s, not SensorReading's (smaint schemas print shows it)", errOCF, w.Name())
	}
	codec := string(meta["avro.codec"])
	if codec != "" && codec != "null" && codec != "deflate" {
		return nil, fmt.Errorf("%w: codec %q: want null or deflate", errOCF, codec)
	}
	sync, err := c.take(16)
	if err != nil {
		return nil, err
	}
	var (
		out      []schemas.SensorReading
		r        schemas.SensorReading
		dec      = schemas.NewSerde().NewDecoder()
		inflated int64
	)
	for c.off < len(body) {
		count, err := c.long()
		if err != nil {
			return nil, err
		}
		size, err := c.long()
		if err != nil {
			return nil, err
		}
		if count < 0 || size < 0 || size > int64(len(body)-c.off) {
			return nil, fmt.Errorf("%w: a block of %d records in %d bytes, with %d bytes left", errOCF, count, size, len(body)-c.off)
		}
		if count > int64(max-len(out)) {
			return nil, fmt.Errorf("%w: more than %d", errTooMany, max)
		}
		data, _ := c.take(int(size))
		if end, err := c.take(16); err != nil || !bytes.Equal(end, sync) {
			return nil, fmt.Errorf("%w: a block does not end with the file's sync marker", errOCF)
		}
		if codec == "deflate" {
			if data, err = inflate(data, maxInflated-inflated); err != nil {
				return nil, err
			}
			inflated += int64(len(data))
		}
		n := 0
		err = dec.DecodeAll(data, &r, func() error {
			if n++; int64(n) > count {
				return fmt.Errorf("the block holds more than the %d records it says", count)
			}
			out = append(out, r)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", errOCF, len(out), err)
		}
		if int64(n) != count {
			return nil, fmt.Errorf("%w: a block says it holds %d records and holds %d", errOCF, count, n)
		}
	}
	return out, nil
}

// inflate inflates a deflate block, refusing one over limit bytes.
func inflate(data []byte, limit int64) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data)), limit+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: a deflate block: %v", errOCF, err)
	case int64(len(out)) > limit:
		return nil, fmt.Errorf("%w: its blocks inflate to more than the %d bytes a request may", errOCF, limit)
	}
	return out, nil
}

// ocfCursor reads the container's framing: Avro longs, and byte strings
// checked against what is left.
type ocfCursor struct {
	b   []byte
	off int
}

func (c *ocfCursor) long() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if c.off >= len(c.b) {
			return 0, fmt.Errorf("%w: it ends inside a number", errOCF)
		}
		b := c.b[c.off]
		c.off++
		u |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, fmt.Errorf("%w: a number longer than 10 bytes", errOCF)
}

func (c *ocfCursor) take(n int) ([]byte, error) {
	if n < 0 || n > len(c.b)-c.off {
		return nil, fmt.Errorf("%w: %d bytes wanted, %d left", errOCF, n, len(c.b)-c.off)
	}
	c.off += n
	return c.b[c.off-n : c.off], nil
}

func (c *ocfCursor) bytes() ([]byte, error) {
	n, err := c.long()
	if err != nil {
		return nil, err
	}
	if n < 0 || n > int64(len(c.b)-c.off) {
		return nil, fmt.Errorf("%w: a string of %d bytes, with %d left", errOCF, n, len(c.b)-c.off)
	}
	return c.take(int(n))
}

// meta reads the header's metadata map.
func (c *ocfCursor) meta() (map[string][]byte, error) {
	meta := map[string][]byte{}
	for {
		count, err := c.long()
		if err != nil {
			return nil, err
		}
		if count == 0 {
			return meta, nil
		}
		if count < 0 { // a block with its byte size
			count = -count
			if _, err := c.long(); err != nil {
				return nil, err
			}
		}
		if count > int64(len(c.b)-c.off)/2 || count < 0 { // an entry takes at least 2 bytes
			return nil, fmt.Errorf("%w: a header of %d entries in %d bytes", errOCF, count, len(c.b)-c.off)
		}
		for range count {
			k, err := c.bytes()
			if err != nil {
				return nil, err
			}
			v, err := c.bytes()
			if err != nil {
				return nil, err
			}
			meta[string(k)] = v
		}
	}
}
