package schemas

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
)

// Avro object container files are read here rather than by goavro's
// OCFReader: that one allocates whatever a header or a block says it
// holds, so a 100-byte file could make it ask for gigabytes. Here every
// count and length is checked against the bytes left before anything is
// allocated, inflated blocks are bounded, and the records are decoded by
// this package's codec, which bounds them the same way.

var (
	// ErrContainer: the bytes are not a usable Avro object container
	// file.
	ErrContainer = errors.New("schemas: not a usable Avro object container file")
	// ErrTooMany: a container file holds more records than its reader
	// allows.
	ErrTooMany = errors.New("schemas: too many records")
)

// ocfMagic starts every object container file.
var ocfMagic = []byte{'O', 'b', 'j', 1}

// ReadContainer reads the records of the Avro object container file
// body, written with v's schema (by its canonical form) and the null or
// deflate codec. It decodes each into v and calls each, which may stop
// the reading with an error; v is reused, so each copies what it keeps.
// At most max records are read: a block whose count would pass it is
// ErrTooMany, before its records are decoded; blocks inflate to at most
// maxInflated bytes in all. Other errors wrap ErrContainer. Nothing in
// body makes it allocate more than maxInflated and body's size.
func (d *Decoder) ReadContainer(body []byte, v Record, max int, maxInflated int64, each func() error) error {
	want := v.AvroSchema()
	c := ocfCursor{b: body}
	if !bytes.HasPrefix(body, ocfMagic) {
		return fmt.Errorf("%w: it does not start with Obj\\x01", ErrContainer)
	}
	c.off = len(ocfMagic)
	meta, err := c.meta()
	if err != nil {
		return err
	}
	w, err := ParseSchema(string(meta["avro.schema"]))
	if err != nil {
		return fmt.Errorf("%w: its schema: %v", ErrContainer, err)
	}
	if w.Fingerprint() != want.Fingerprint() {
		return fmt.Errorf("%w: its schema is %s, not %s's (smaint schemas print shows it)", ErrContainer, w.Name(), want.Name())
	}
	codec := string(meta["avro.codec"])
	if codec != "" && codec != "null" && codec != "deflate" {
		return fmt.Errorf("%w: codec %q: want null or deflate", ErrContainer, codec)
	}
	sync, err := c.take(16)
	if err != nil {
		return err
	}
	var read, inflated int64
	for c.off < len(body) {
		count, err := c.long()
		if err != nil {
			return err
		}
		size, err := c.long()
		if err != nil {
			return err
		}
		if count < 0 || size < 0 || size > int64(len(body)-c.off) {
			return fmt.Errorf("%w: a block of %d records in %d bytes, with %d bytes left", ErrContainer, count, size, len(body)-c.off)
		}
		if count > int64(max)-read {
			return fmt.Errorf("%w: more than %d", ErrTooMany, max)
		}
		data, _ := c.take(int(size))
		if end, err := c.take(16); err != nil || !bytes.Equal(end, sync) {
			return fmt.Errorf("%w: a block does not end with the file's sync marker", ErrContainer)
		}
		if codec == "deflate" {
			if data, err = inflate(data, maxInflated-inflated); err != nil {
				return err
			}
			inflated += int64(len(data))
		}
		n := int64(0)
		err = d.DecodeAll(data, v, func() error {
			if n++; n > count {
				return fmt.Errorf("%w: the block holds more than the %d records it says", ErrContainer, count)
			}
			return each()
		})
		if err != nil {
			return fmt.Errorf("record %d: %w", read+n-1, err)
		}
		if n != count {
			return fmt.Errorf("%w: a block says it holds %d records and holds %d", ErrContainer, count, n)
		}
		read += n
	}
	return nil
}

// AppendContainer appends to dst an Avro object container file of recs
// (their schema, the null codec, one block), as any Avro library reads.
func AppendContainer[T Record](dst []byte, recs []T) []byte {
	if len(recs) == 0 {
		return dst
	}
	sync := []byte("smaint-container") // 16 bytes; any will do
	dst = append(dst, ocfMagic...)
	dst = appendLong(dst, 1)
	dst = appendString(dst, "avro.schema")
	dst = appendString(dst, recs[0].AvroSchema().Text())
	dst = appendLong(dst, 0)
	dst = append(dst, sync...)
	var block []byte
	for _, r := range recs {
		block = r.AppendAvro(block)
	}
	dst = appendLong(dst, int64(len(recs)))
	dst = appendLong(dst, int64(len(block)))
	dst = append(dst, block...)
	return append(dst, sync...)
}

// inflate inflates a deflate block, refusing one over limit bytes.
func inflate(data []byte, limit int64) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(data)), limit+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: a deflate block: %v", ErrContainer, err)
	case int64(len(out)) > limit:
		return nil, fmt.Errorf("%w: its blocks inflate to more than the %d bytes the reader allows", ErrContainer, limit)
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
			return 0, fmt.Errorf("%w: it ends inside a number", ErrContainer)
		}
		b := c.b[c.off]
		c.off++
		u |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, fmt.Errorf("%w: a number longer than 10 bytes", ErrContainer)
}

func (c *ocfCursor) take(n int) ([]byte, error) {
	if n < 0 || n > len(c.b)-c.off {
		return nil, fmt.Errorf("%w: %d bytes wanted, %d left", ErrContainer, n, len(c.b)-c.off)
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
		return nil, fmt.Errorf("%w: a string of %d bytes, with %d left", ErrContainer, n, len(c.b)-c.off)
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
			return nil, fmt.Errorf("%w: a header of %d entries in %d bytes", ErrContainer, count, len(c.b)-c.off)
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
