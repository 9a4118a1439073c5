package httpapi

import (
	"testing"
)

// FuzzDecode: no body makes a decoder panic, and every reading a decoder
// returns without an error for it has what a reading must (a time).
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"sensor_id":"s","asset_id":"a","sensor_type":"t","ts":"2026-11-30T12:00:00Z","value":1}`), false)
	f.Add([]byte(`{"readings":[{"ts":"2026-11-30T12:00:00Z","value":1},{"value":"x"}]}`), false)
	f.Add([]byte(`[1, null, {}, []]`), false)
	f.Add(avroFile(&testing.T{}, 0, 1), true)
	f.Add([]byte("Obj\x01\x00\x00"), true)
	f.Fuzz(func(t *testing.T, body []byte, avro bool) {
		rs, bad, err := decodeJSON(body, 1000)
		if avro {
			rs, bad, err = decodeAvro(body, 1000, 1<<20)
		}
		if len(rs) > 1000 {
			t.Fatalf("%d readings decoded, over the limit of 1000", len(rs))
		}
		if err != nil {
			return
		}
		failed := map[int]bool{}
		for _, b := range bad {
			if b.Index < 0 || b.Index >= len(rs) || b.Error == "" {
				t.Fatalf("record error %+v of %d readings", b, len(rs))
			}
			failed[b.Index] = true
		}
		for i, r := range rs {
			if !failed[i] && r.TS.IsZero() && !avro {
				t.Fatalf("reading %d taken without a time: %+v", i, r)
			}
		}
	})
}
