package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/schemas"
)

// Producer writes typed records to Kafka for sources that have no input
// topic: the simulator, load generators. Sends are asynchronous; Flush
// waits for every acknowledgement. A Producer is safe for concurrent use.
type Producer struct {
	cl    *kgo.Client
	cfg   runnerConfig
	acked atomic.Int64
	mu    sync.Mutex
	err   error
}

// NewProducer returns a Producer. It accepts the Runner's options; those
// about consuming are ignored.
func NewProducer(opts ...Option) (*Producer, error) {
	cfg := defaultRunnerConfig("producer")
	for _, o := range opts {
		o(&cfg)
	}
	if len(cfg.kafka) == 0 {
		return nil, fmt.Errorf("%w: producer: no Kafka options (use KafkaOpts)", ErrConfig)
	}
	if cfg.serde == nil {
		cfg.serde = schemas.NewSerde()
	}
	kopts := append(append([]kgo.Opt(nil), cfg.kafka...),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(200_000),
	)
	if cfg.log != nil {
		kopts = append(kopts, kgo.WithLogger(kgoLogger{cfg.log}))
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("%w: producer: %w", ErrConfig, err)
	}
	return &Producer{cl: cl, cfg: cfg}, nil
}

// CreateTopics creates the topics that do not exist yet, with the
// partitions and replication CreateTopics configured (the brokers'
// defaults without it), so that readers can subscribe before any stage
// has created them.
func (p *Producer) CreateTopics(ctx context.Context, topics ...string) error {
	return EnsureTopics(ctx, p.cl, p.cfg.partitions, p.cfg.replication, topics...)
}

// KeepTopic creates topic, when the options create topics (CreateTopics)
// and it does not exist yet, keeping its records however old (EnsureKept).
func (p *Producer) KeepTopic(ctx context.Context, topic string) error {
	if !p.cfg.createTopics {
		return nil
	}
	return EnsureKept(ctx, p.cl, p.cfg.partitions, p.cfg.replication, topic)
}

// Bind creates the ports' topics (as CreateTopics configured) and binds
// them to encoders, registering their schemas when the Serde has a
// registry. Ports must be bound before Send.
func (p *Producer) Bind(ctx context.Context, ports ...Port) error {
	if p.cfg.createTopics {
		topics := make([]string, 0, len(ports))
		for _, pt := range ports {
			topics = append(topics, pt.Topic())
		}
		if err := EnsureTopics(ctx, p.cl, p.cfg.partitions, p.cfg.replication, topics...); err != nil {
			return err
		}
	}
	for _, pt := range ports {
		enc, err := p.cfg.serde.NewEncoder(ctx, pt.Schema(), p.cfg.serde.Subject(pt.Topic(), pt.Schema()))
		if err != nil {
			return fmt.Errorf("output %s: %w", pt.Topic(), err)
		}
		pt.bind(enc)
	}
	return nil
}

// Send encodes v and queues it for o's topic, keyed by key. It blocks only
// when the client's buffer is full, until ctx ends. See SendRaw on ctx.
func Send[T schemas.Record](ctx context.Context, p *Producer, o *Output[T], key string, v T) error {
	if o.enc == nil {
		return fmt.Errorf("pipeline: output %s is not bound (call Producer.Bind)", o.topic)
	}
	val, err := o.enc.Append(nil, v)
	if err != nil {
		return err
	}
	return p.SendRaw(ctx, o.topic, key, val)
}

// Correlation headers: the HTTP API writes each reading with the id of the
// request that brought it and the reading's own id, so that a consumer (or
// kcat -f '%h') follows a reading without decoding it.
const (
	HeaderRequestID = "smaint-request-id"
	HeaderReadingID = "smaint-reading-id"
)

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Write encodes vs and sends each to o's topic, keyed by key(v) and
// carrying hs and the headers of head(v) (head may be nil), then blocks
// until the brokers acknowledged every one, or one failed, or ctx ended.
// It returns nil only when all of vs are written. On an error some of vs
// may be written and others not: a caller that retries writes those
// again, which is safe for records a consumer dedupes (readings, by
// their ids). o must be bound (Producer.Bind). Safe for concurrent use.
func Write[T schemas.Record](ctx context.Context, p *Producer, o *Output[T], key func(T) string, head func(T) []Header, hs []Header, vs []T) error {
	if o.enc == nil {
		return fmt.Errorf("pipeline: output %s is not bound (call Producer.Bind)", o.topic)
	}
	recs := make([]*kgo.Record, len(vs))
	var common []kgo.RecordHeader
	for _, h := range hs {
		common = append(common, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	for i, v := range vs {
		val, err := o.enc.Append(nil, v)
		if err != nil {
			return err
		}
		rec := &kgo.Record{Topic: o.topic, Key: []byte(key(v)), Value: val, Headers: common}
		if head != nil {
			own := head(v)
			rec.Headers = make([]kgo.RecordHeader, len(common), len(common)+len(own))
			copy(rec.Headers, common)
			for _, h := range own {
				rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
			}
		}
		recs[i] = rec
	}
	if err := p.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("write to %s: %w", o.topic, err)
	}
	p.acked.Add(int64(len(recs)))
	return nil
}

// SendRaw queues value as it is: for tests and fault injection that need
// bytes no encoder would write. As with Send, ctx bounds the wait for
// buffer space and also fails the record if it ends before the record is
// produced: pass a context that outlives the send (context.WithoutCancel)
// to stop sending without failing what is queued.
func (p *Producer) SendRaw(ctx context.Context, topic, key string, value []byte) error {
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	p.cl.Produce(ctx, &kgo.Record{Topic: topic, Key: k, Value: value}, p.promise)
	return p.firstErr()
}

func (p *Producer) promise(_ *kgo.Record, err error) {
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		p.mu.Unlock()
		return
	}
	p.acked.Add(1)
}

func (p *Producer) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Acked returns how many records the brokers have acknowledged.
func (p *Producer) Acked() int64 { return p.acked.Load() }

// Flush waits until every queued record is acknowledged or failed, and
// returns the first failure since the Producer was created.
func (p *Producer) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return err
	}
	return p.firstErr()
}

// Ping reports whether a broker answers a metadata request, within ctx.
func (p *Producer) Ping(ctx context.Context) error { return p.cl.Ping(ctx) }

// Close closes the client; records not yet flushed fail.
func (p *Producer) Close() { p.cl.Close() }
