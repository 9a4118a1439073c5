package audit

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
)

// Kafka returns a Source that reads topics with a client made of opts
// (the brokers and their security), as pipeline.ReadTopic reads them
// committed: what a stage downstream would see.
func Kafka(opts ...kgo.Opt) Source {
	return func(ctx context.Context, topic string, fn func(Record)) error {
		return pipeline.ReadTopic(ctx, topic, true, func(r *kgo.Record) {
			fn(Record{Partition: r.Partition, Offset: r.Offset, Value: r.Value, Headers: headers(r.Headers)})
		}, opts...)
	}
}

// headers keeps the smaint headers of a record.
func headers(hs []kgo.RecordHeader) map[string]string {
	var m map[string]string
	for _, h := range hs {
		if strings.HasPrefix(h.Key, "smaint-") {
			if m == nil {
				m = map[string]string{}
			}
			m[h.Key] = string(h.Value)
		}
	}
	return m
}
