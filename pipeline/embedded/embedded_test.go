package embedded_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline/embedded"
)

func TestServicesAnswerAndTakenPortsMove(t *testing.T) {
	ctx := context.Background()
	k, err := embedded.StartKafka("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	// The same port again is taken: the second broker moves to a free one.
	k2, err := embedded.StartKafka(k.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	if k2.Addr() == k.Addr() {
		t.Fatalf("two brokers on %s", k.Addr())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k2.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).ListBrokers(ctx); err != nil {
		t.Fatalf("broker at %s: %v", k2.Addr(), err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reg, err := embedded.StartRegistry(ln.Addr().String(), nil) // taken: moves
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	resp, err := http.Get(reg.URL() + "/subjects")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("registry at %s: %v %v", reg.URL(), resp, err)
	}
	resp.Body.Close()

	r, err := embedded.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	opt, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s: %v", r.URL(), err)
	}

	if _, err := embedded.StartKafka("no-port", nil); !errors.Is(err, embedded.ErrAddress) {
		t.Errorf("address without a port: %v", err)
	}
}
