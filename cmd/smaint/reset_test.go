package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// TestReset moves a stage's group to the end, the start and a time of its
// input, under a group prefix, and refuses while the group has a member.
func TestReset(t *testing.T) {
	c := pipelinetest.Cluster(t)
	addr := c.ListenAddrs()[0]
	admin := pipelinetest.Client(t, c.ListenAddrs(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	topic := pipeline.DefaultTopics().Readings
	pipelinetest.CreateTopic(t, admin, 2, topic)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := range 20 { // per partition: 5 at t0, then 5 an hour later
		at := t0
		if i%10 >= 5 {
			at = t0.Add(time.Hour)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i / 10), Value: []byte("x"), Timestamp: at})
	}
	pipelinetest.Produce(t, admin, recs...)

	const group = "p-smaint-dedupe"
	committed := func() map[int32]int64 {
		t.Helper()
		offs, err := kadm.NewClient(admin).FetchOffsets(context.Background(), group)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int64{}
		offs.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
		return out
	}
	reset := func(to string) (int, string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, context.Background(), "reset", "--brokers", addr, "--group-prefix", "p-", "--stage", "dedupe", "--to", to)
		return code, stdout + stderr
	}
	for _, tc := range []struct {
		to   string
		want int64
	}{
		{"latest", 10}, {"earliest", 0}, {t0.Add(30 * time.Minute).Format(time.RFC3339), 5},
	} {
		if code, out := reset(tc.to); code != 0 {
			t.Fatalf("reset --to %s: exit %d\n%s", tc.to, code, out)
		}
		if got := committed(); got[0] != tc.want || got[1] != tc.want {
			t.Fatalf("after --to %s: committed %v, want %d on both partitions", tc.to, got, tc.want)
		}
	}

	member := pipelinetest.Client(t, c.ListenAddrs(), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic))
	pipelinetest.Eventually(t, "the member to join", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		member.PollFetches(ctx)
		g, err := kadm.NewClient(admin).DescribeGroups(context.Background(), group)
		return err == nil && len(g[group].Members) == 1
	})
	if code, out := reset("earliest"); code != 2 || !strings.Contains(out, "has 1 members") {
		t.Fatalf("reset with a member: exit %d\n%s", code, out)
	}
}
