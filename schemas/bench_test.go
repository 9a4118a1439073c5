package schemas

import (
	"context"
	"testing"
)

func BenchmarkEncodeReading(b *testing.B) {
	enc, _ := NewSerde().NewEncoder(context.Background(), SensorReadingSchema, "")
	v := sampleReading()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = enc.Append(buf[:0], v)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkDecodeReading(b *testing.B) {
	s := NewSerde()
	enc, _ := s.NewEncoder(context.Background(), SensorReadingSchema, "")
	buf, _ := enc.Append(nil, sampleReading())
	d := s.NewDecoder()
	var v SensorReading
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if err := d.Decode(ctx, buf, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeReadingGoavro is the same decode through goavro's native
// maps, for comparison with the hand-written codec.
func BenchmarkDecodeReadingGoavro(b *testing.B) {
	buf := sampleReading().AppendAvro(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := SensorReadingSchema.codec.NativeFromBinary(buf); err != nil {
			b.Fatal(err)
		}
	}
}
