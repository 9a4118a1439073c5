package schemas

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// TestContainerRoundTrip: goavro reads what AppendContainer writes, and
// ReadContainer reads what goavro writes, deflated or not.
func TestContainerRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rs := []*SensorReading{
		{ReadingID: "8f14e45f-ceea-467f-a6f6-2a8b1e1c8c5d", SensorID: "s1", AssetID: "a", SensorType: "t", TS: t0, Value: 1.5, Unit: "C", Quality: 90, Tags: map[string]string{"k": "v"}},
		{ReadingID: "8f14e45f-ceea-467f-a6f6-2a8b1e1c8c5e", SensorID: "s2", AssetID: "a", SensorType: "t", TS: t0.Add(time.Second), Value: -2, Unit: "C", Quality: 100},
	}
	file := AppendContainer(nil, rs)
	ocf, err := goavro.NewOCFReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ocf.Scan() {
		v, err := ocf.Read()
		if err != nil {
			t.Fatal(err)
		}
		if m := v.(map[string]any); m["sensor_id"] != rs[n].SensorID || m["value"] != rs[n].Value {
			t.Fatalf("goavro read %v", m)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("goavro read %d records", n)
	}
	for _, codec := range []string{"null", "deflate"} {
		var buf bytes.Buffer
		w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: SensorReadingSchema.Text(), CompressionName: codec})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if err := w.Append([]map[string]any{{"reading_id": r.ReadingID, "sensor_id": r.SensorID, "asset_id": r.AssetID, "sensor_type": r.SensorType,
				"ts": r.TS, "value": r.Value, "unit": r.Unit, "quality": r.Quality, "tags": map[string]any{}}}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		var r SensorReading
		if err := NewSerde().NewDecoder().ReadContainer(buf.Bytes(), &r, 10, 1<<20, func() error {
			got = append(got, r.SensorID+"@"+r.TS.Format(time.TimeOnly))
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		if strings.Join(got, " ") != "s1@12:00:00 s2@12:00:01" {
			t.Fatalf("%s: read %v", codec, got)
		}
	}
}

// TestContainerBounds: a block that holds more records than it says is
// refused, and so is a count that would pass the limit, before decoding.
func TestContainerBounds(t *testing.T) {
	rs := make([]*SensorReading, 3)
	for i := range rs {
		rs[i] = &SensorReading{ReadingID: "x", SensorID: "s", TS: time.Unix(int64(i), 0)}
	}
	good := AppendContainer(nil, rs)
	c := ocfCursor{b: good}
	c.off = len(ocfMagic)
	if _, err := c.meta(); err != nil {
		t.Fatal(err)
	}
	c.off += 16
	if good[c.off] != 6 { // zig-zag 3
		t.Fatalf("unexpected block count byte %#x", good[c.off])
	}
	read := func(file []byte, max int) (int, error) {
		n := 0
		var r SensorReading
		err := NewSerde().NewDecoder().ReadContainer(file, &r, max, 1<<20, func() error { n++; return nil })
		return n, err
	}
	lie := bytes.Clone(good)
	lie[c.off] = 4 // zig-zag 2
	if _, err := read(lie, 100); !errors.Is(err, ErrContainer) || !strings.Contains(err.Error(), "more than the 2 records it says") {
		t.Fatalf("a block holding more than it says: %v", err)
	}
	if n, err := read(good, 3); err != nil || n != 3 {
		t.Fatalf("3 of at most 3: %d %v", n, err)
	}
	if n, err := read(good, 2); !errors.Is(err, ErrTooMany) || n != 0 {
		t.Fatalf("3 of at most 2: %d decoded, %v", n, err)
	}
	if _, err := read(good[:len(good)-3], 10); !errors.Is(err, ErrContainer) {
		t.Fatalf("truncated: %v", err)
	}
}
