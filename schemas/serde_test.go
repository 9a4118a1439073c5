package schemas

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func sampleReading() *SensorReading { return sampleRecords()[0].rec.(*SensorReading) }

func newFakeRegistry(t *testing.T) (*srfake.Registry, *SRRegistry) {
	t.Helper()
	fake := srfake.New()
	t.Cleanup(fake.Close)
	cl, err := sr.NewClient(sr.URLs(fake.URL()))
	if err != nil {
		t.Fatal(err)
	}
	return fake, NewSRRegistry(cl)
}

func mustEncode(t *testing.T, s *Serde, v Record, subject string) []byte {
	t.Helper()
	enc, err := s.NewEncoder(context.Background(), v.AvroSchema(), subject)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSingleObjectFraming: smaint writes the specification's fingerprint
// and goavro's body; it reads what goavro frames (the fingerprint earlier
// smaint versions wrote) as well as its own.
func TestSingleObjectFraming(t *testing.T) {
	ctx := context.Background()
	for _, tc := range sampleRecords() {
		sc := tc.rec.AvroSchema()
		ours := mustEncode(t, NewSerde(), tc.rec, "")
		if fp := binary.LittleEndian.Uint64(ours[2:10]); fp != sc.Fingerprint() || fp != rabin(sc.CanonicalForm()) {
			t.Errorf("%s: framed with %#x, want the canonical form's %#x", sc.Name(), fp, sc.Fingerprint())
		}
		framings := [][]byte{ours}
		if len(tc.native) > 0 && !hasMultiEntryMap(tc.native) {
			theirs, err := sc.codec.SingleFromNative(nil, tc.native)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ours[10:], theirs[10:]) {
				t.Errorf("%s: SOE bodies differ\nours   % x\ngoavro % x", sc.Name(), ours, theirs)
			}
			framings = append(framings, theirs)
		}
		for _, b := range framings {
			got := newRecord(tc.rec)
			if err := NewSerde().NewDecoder().Decode(ctx, b, got); err != nil {
				t.Fatalf("%s: %v", sc.Name(), err)
			}
			if !reflect.DeepEqual(got, tc.rec) {
				t.Errorf("%s: round trip gave %+v", sc.Name(), got)
			}
		}
	}
}

// TestFingerprints checks the canonical forms and fingerprints of the
// reading schema against independent values: the fingerprint the Avro
// specification's canonical form gives, goavro's own fingerprint of its
// canonical form (which checks rabin), and the form Python's avro 1.11
// writes (checked against the library itself in bench/interop).
func TestFingerprints(t *testing.T) {
	sc := SensorReadingSchema
	const spec = `{"name":"io.smaint.v1.SensorReading","type":"record","fields":[{"name":"reading_id","type":"string"},{"name":"sensor_id","type":"string"},{"name":"asset_id","type":"string"},{"name":"sensor_type","type":"string"},{"name":"ts","type":"long"},{"name":"value","type":"double"},{"name":"unit","type":"string"},{"name":"quality","type":"int"},{"name":"tags","type":{"type":"map","values":"string"}}]}`
	if sc.CanonicalForm() != spec {
		t.Errorf("canonical form\n%s\nwant\n%s", sc.CanonicalForm(), spec)
	}
	if got := rabin(sc.codec.CanonicalSchema()); got != sc.codec.Rabin {
		t.Errorf("rabin(goavro's canonical form) = %#x, goavro says %#x", got, sc.codec.Rabin)
	}
	python, err := canonicalForm(sc.Text(), true)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint64{0x047e536e150daacc, 0xd1fe9748545f087b, 0x78f69f3a0f4348e5} // spec, goavro, Python avro 1.11
	if got := sc.Fingerprints(); !reflect.DeepEqual(got, want) || rabin(python) != want[2] {
		t.Errorf("fingerprints %#x, want %#x", got, want)
	}
	for _, s := range All() { // every schema takes the three forms apart, or says they agree
		if fps := s.Fingerprints(); fps[0] != rabin(s.CanonicalForm()) || len(fps) > 3 {
			t.Errorf("%s: fingerprints %#x", s.Name(), fps)
		}
	}
}

func hasMultiEntryMap(m map[string]any) bool {
	for _, v := range m {
		if mm, ok := v.(map[string]any); ok && len(mm) > 1 {
			return true
		}
	}
	return false
}

func TestConfluentFramingThroughRegistry(t *testing.T) {
	ctx := context.Background()
	fake, reg := newFakeRegistry(t)
	want := sampleReading()
	b := mustEncode(t, NewSerde(WithRegistry(reg)), want, "sensor.readings-value")
	if b[0] != 0 {
		t.Fatalf("first byte %#x, want Confluent magic 0", b[0])
	}
	if _, ok := fake.GetSchema("sensor.readings-value", 1); !ok {
		t.Fatal("schema not registered under sensor.readings-value")
	}
	// A second process, knowing nothing of the id yet, reads the value.
	var got SensorReading
	if err := NewSerde(WithRegistry(reg)).NewDecoder().Decode(ctx, b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("got %+v", got)
	}
	// Registering the same schema again reuses the id.
	again := mustEncode(t, NewSerde(WithRegistry(reg)), want, "sensor.readings-value")
	if !reflect.DeepEqual(again[:5], b[:5]) {
		t.Errorf("header % x, then % x", b[:5], again[:5])
	}
}

// olderReading is SensorReading as it would have been before tags were
// added: the current schema is a newer reader of it.
const olderReading = `{"type":"record","name":"SensorReading","namespace":"io.smaint.v1","fields":[
 {"name":"reading_id","type":"string"},{"name":"sensor_id","type":"string"},
 {"name":"asset_id","type":"string"},{"name":"sensor_type","type":"string"},
 {"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},
 {"name":"value","type":"double"},{"name":"unit","type":"string"},{"name":"quality","type":"int"}]}`

func TestNewerReaderReadsOlderWriter(t *testing.T) {
	ctx := context.Background()
	old, err := ParseSchema(olderReading)
	if err != nil {
		t.Fatal(err)
	}
	native := map[string]any{"reading_id": "r-1", "sensor_id": "s-1", "asset_id": "a-1", "sensor_type": "pressure",
		"ts": t0, "value": 4.5, "unit": "bar", "quality": int32(80)}
	want := SensorReading{ReadingID: "r-1", SensorID: "s-1", AssetID: "a-1", SensorType: "pressure",
		TS: t0, Value: 4.5, Unit: "bar", Quality: 80}

	t.Run("single-object", func(t *testing.T) {
		b, err := old.codec.SingleFromNative(nil, native)
		if err != nil {
			t.Fatal(err)
		}
		var got SensorReading
		err = NewSerde().NewDecoder().Decode(ctx, b, &got)
		if !errors.Is(err, ErrUnknownSchema) {
			t.Fatalf("without the old schema: %v, want ErrUnknownSchema", err)
		}
		if err := NewSerde(WithWriterSchemas(old)).NewDecoder().Decode(ctx, b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v want %+v", got, want)
		}
	})
	t.Run("registry", func(t *testing.T) {
		fake, reg := newFakeRegistry(t)
		id, _, err := fake.RegisterSchema("sensor.readings-value", sr.Schema{Schema: olderReading})
		if err != nil {
			t.Fatal(err)
		}
		body, err := old.codec.BinaryFromNative(nil, native)
		if err != nil {
			t.Fatal(err)
		}
		b := append([]byte{0, 0, 0, 0, byte(id)}, body...)
		var got SensorReading
		if err := NewSerde(WithRegistry(reg)).NewDecoder().Decode(ctx, b, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v want %+v", got, want)
		}
	})
}

func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	good := mustEncode(t, NewSerde(), sampleReading(), "")
	feature := mustEncode(t, NewSerde(), sampleRecords()[1].rec, "")
	unknownFP := append([]byte(nil), good...)
	unknownFP[5] ^= 0xff
	_, reg := newFakeRegistry(t)

	tests := []struct {
		name  string
		serde *Serde
		in    []byte
		want  error
	}{
		{"empty", NewSerde(), nil, ErrTruncated},
		{"garbage", NewSerde(), []byte("hello, world"), ErrNoFraming},
		{"json", NewSerde(), []byte(`{"reading_id":"x"}`), ErrNoFraming},
		{"short confluent header", NewSerde(), []byte{0, 0, 1}, ErrTruncated},
		{"short single-object header", NewSerde(), good[:6], ErrTruncated},
		{"truncated body", NewSerde(), good[:len(good)-3], ErrTruncated},
		{"trailing bytes", NewSerde(), append(append([]byte(nil), good...), 7), ErrMalformed},
		{"unknown fingerprint", NewSerde(), unknownFP, ErrUnknownSchema},
		{"registry id without registry", NewSerde(), append([]byte{0, 0, 0, 0, 9}, good[10:]...), ErrUnknownSchema},
		{"registry id the registry lacks", NewSerde(WithRegistry(reg)), append([]byte{0, 0, 0, 0, 42}, good[10:]...), ErrUnknownSchema},
		{"another record type", NewSerde(), feature, ErrIncompatible},
		{"negative string length", NewSerde(), append(append([]byte(nil), good[:10]...), 0x01), ErrMalformed},
		{"huge map count", NewSerde(), append(append([]byte(nil), good[:len(good)-1]...), 0xfe, 0xff, 0xff, 0xff, 0x0f), ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got SensorReading
			err := tc.serde.NewDecoder().Decode(ctx, tc.in, &got)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), "SensorReading") {
				t.Errorf("error %q does not name the record", err)
			}
		})
	}
	// Every prefix of a good value fails cleanly.
	for n := range len(good) {
		var got SensorReading
		if err := NewSerde().NewDecoder().Decode(ctx, good[:n], &got); err == nil {
			t.Fatalf("prefix of %d bytes decoded", n)
		}
	}
}

func TestRegistryDown(t *testing.T) {
	fake, reg := newFakeRegistry(t)
	fake.Close()
	_, err := NewSerde(WithRegistry(reg)).NewEncoder(context.Background(), SensorReadingSchema, "x-value")
	if !errors.Is(err, ErrRegistry) {
		t.Fatalf("got %v, want ErrRegistry", err)
	}
	var got SensorReading
	err = NewSerde(WithRegistry(reg)).NewDecoder().Decode(context.Background(), []byte{0, 0, 0, 0, 1, 0}, &got)
	if !errors.Is(err, ErrRegistry) {
		t.Fatalf("got %v, want ErrRegistry", err)
	}
}

func TestEncoderRejectsOtherRecord(t *testing.T) {
	enc, _ := NewSerde().NewEncoder(context.Background(), SensorReadingSchema, "")
	if _, err := enc.Append(nil, &FeatureVector{}); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("got %v", err)
	}
}

// TestAlertWithoutOnsetStillReads: an alert written before onset existed
// (the schema of the previous release) reads with a zero Onset, and the
// current one, whose onset field has a default, reads older alerts'
// fields unchanged.
func TestAlertWithoutOnsetStillReads(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal([]byte(AlertSchema.Text()), &m); err != nil {
		t.Fatal(err)
	}
	fields := m["fields"].([]any)
	m["fields"] = fields[:len(fields)-1] // without onset
	text, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	old, err := ParseSchema(string(text))
	if err != nil {
		t.Fatal(err)
	}
	var rec = sampleRecords()[0]
	for _, r := range sampleRecords() {
		if _, ok := r.rec.(*Alert); ok {
			rec = r
		}
	}
	native := maps.Clone(rec.native)
	delete(native, "onset")
	b, err := old.codec.SingleFromNative(nil, native)
	if err != nil {
		t.Fatal(err)
	}
	var got Alert
	if err := NewSerde(WithWriterSchemas(old)).NewDecoder().Decode(context.Background(), b, &got); err != nil {
		t.Fatal(err)
	}
	want := *rec.rec.(*Alert)
	want.Onset = time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
