package schemas

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the decoder of every record type. It
// must never panic, every error must wrap one of the package's sentinels,
// and whatever decodes must re-encode to bytes that decode to the same value.
func FuzzDecode(f *testing.F) {
	s := NewSerde()
	for _, tc := range sampleRecords() {
		enc, _ := s.NewEncoder(context.Background(), tc.rec.AvroSchema(), "")
		b, _ := enc.Append(nil, tc.rec)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(append([]byte{0, 0, 0, 0, 1}, b[10:]...))
	}
	f.Add([]byte{})
	f.Add([]byte{0xC3, 0x01})
	sentinels := []error{ErrNoFraming, ErrTruncated, ErrMalformed, ErrUnknownSchema, ErrIncompatible, ErrRegistry}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := s.NewDecoder()
		for _, tc := range sampleRecords() {
			v := newRecord(tc.rec)
			err := d.Decode(context.Background(), b, v)
			if err != nil {
				known := false
				for _, e := range sentinels {
					known = known || errors.Is(err, e)
				}
				if !known {
					t.Fatalf("%s: untyped error %v", v.AvroSchema().Name(), err)
				}
				continue
			}
			enc, _ := s.NewEncoder(context.Background(), v.AvroSchema(), "")
			again, err := enc.Append(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			w := newRecord(tc.rec)
			if err := d.Decode(context.Background(), again, w); err != nil {
				t.Fatalf("%s: re-encoded value does not decode: %v", v.AvroSchema().Name(), err)
			}
			if !reflect.DeepEqual(v, w) && !hasNaN(v) {
				t.Fatalf("%s: %+v became %+v", v.AvroSchema().Name(), v, w)
			}
		}
	})
}

// hasNaN reports whether v holds a NaN, which DeepEqual never finds equal.
func hasNaN(v any) bool {
	var walk func(reflect.Value) bool
	walk = func(x reflect.Value) bool {
		switch x.Kind() {
		case reflect.Float64:
			return x.Float() != x.Float()
		case reflect.Pointer:
			return walk(x.Elem())
		case reflect.Struct:
			for i := range x.NumField() {
				if walk(x.Field(i)) {
					return true
				}
			}
		case reflect.Slice:
			for i := range x.Len() {
				if walk(x.Index(i)) {
					return true
				}
			}
		case reflect.Map:
			for it := x.MapRange(); it.Next(); {
				if walk(it.Value()) {
					return true
				}
			}
		}
		return false
	}
	return walk(reflect.ValueOf(v))
}
