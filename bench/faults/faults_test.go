package faults_test

import (
	"context"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/smaint/smaint/bench/plant"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/audit"
	"github.com/smaint/smaint/pipeline/pipelinetest"
	"github.com/smaint/smaint/sinks/timescale"
)

func TestMain(m *testing.M) { plant.Main(m) }

// sizes of the input: short runs for make test, long ones on demand.
func size() int {
	if plant.Long() {
		return 400_000
	}
	return 60_000
}

// TestFaultKill9AtRandomPoints kills the pipeline process with SIGKILL at
// random points, again and again, restarting it each time under the same
// instance id, and then lets it finish.
func TestFaultKill9AtRandomPoints(t *testing.T) {
	recs := plant.Input(t, size())
	want := plant.Reference(t, recs)

	// Small batches: the work spans the kills, and its outputs must not
	// depend on how it is batched either (the reference's are the default).
	p := plant.New(t, recs, []string{"--max-batch", "50"})
	kills := 10
	if plant.Long() {
		kills = 25
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range kills {
		pr := p.Run("pod-1")
		// A random point: anywhere from start-up to well into the work.
		time.Sleep(time.Duration(100+rng.IntN(1500)) * time.Millisecond)
		pr.Kill()
		t.Logf("kill %d", i+1)
	}
	pr := p.Run("pod-1")
	p.Settled(pr)
	pr.Stop(t)
	p.Audit()
	plant.SameOutputs(t, want, p.Outputs())
}

// TestFaultBrokerRestartFromItsDataDirectory stops the broker mid-run and
// starts it again from its data directory, on the same port, twice.
func TestFaultBrokerRestartFromItsDataDirectory(t *testing.T) {
	recs := plant.Input(t, size())
	want := plant.Reference(t, recs)

	dir := t.TempDir()
	port := plant.FreePort(t)
	opts := []kfake.Opt{kfake.DataDir(dir), kfake.Ports(port)}
	p := plant.New(t, recs, []string{"--max-batch", "50"}, opts...)
	pr := p.Run("pod-1")
	for range 2 {
		plant.WaitProgress(t, pr)
		p.Cluster.Close()
		c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		p.Cluster = c
	}
	p.Settled(pr)
	pr.Stop(t)
	p.Audit()
	plant.SameOutputs(t, want, p.Outputs())
}

// TestFaultLostAcknowledgementsAndInjectedErrors has the broker apply
// produce requests but answer them with a timeout (the acknowledgement is
// lost: the client sends again), and fail transaction commits and offset
// commits, while the pipeline runs.
func TestFaultLostAcknowledgementsAndInjectedErrors(t *testing.T) {
	recs := plant.Input(t, size())
	want := plant.Reference(t, recs)

	p := plant.New(t, recs, []string{"--max-batch", "50"})
	faults := []*kfake.FaultHandle{
		p.Cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Err: kerr.RequestTimedOut, Count: 40}),
		p.Cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.EndTxn}, Err: kerr.TransactionAbortable, TopLevel: true, Count: 3}),
		p.Cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.TxnOffsetCommit}, Err: kerr.CoordinatorLoadInProgress, Count: 5}),
		p.Cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Fetch}, Err: kerr.NotLeaderForPartition, Count: 10}),
	}
	pr := p.Run("pod-1")
	p.Settled(pr)
	pr.Stop(t)
	for i, f := range faults {
		if f.Hits() == 0 {
			t.Errorf("fault %d never hit: the test did not test it", i)
		}
	}
	p.Audit()
	plant.SameOutputs(t, want, p.Outputs())
}

// TestFaultRebalanceMidWindowWithTwoInstances runs two instances while
// windows are open. One stops (SIGTERM: it leaves its groups, and its
// partitions move to the other with their windows half built) and comes
// back (they move again); then the other is killed and restarted under
// its name, as a pod is.
//
// The partitions of a killed instance wait for its restart with nothing in
// flight, unless it died mid-transaction; the other instance's windows
// downstream of them must not close as idle meanwhile, or their readings
// rightly go late. A restart (process start, group joins, state restored)
// takes seconds on a busy machine, so the idle timeout here is 15s,
// not the 5s of the single-instance faults.
func TestFaultRebalanceMidWindowWithTwoInstances(t *testing.T) {
	recs := plant.Input(t, size())
	want := plant.Reference(t, recs)

	p := plant.New(t, recs, []string{"--max-batch", "50", "--idle-timeout", "15s"})
	a, b := p.Run("pod-a"), p.Run("pod-b")
	plant.WaitProgress(t, a)
	a.Stop(t)
	a = p.Run("pod-a")
	plant.WaitProgress(t, a)
	b.Kill()
	b = p.Run("pod-b")
	plant.WaitProgress(t, b)
	plant.WaitReady(t, b) // joined every group: leaving then does not wait on a join
	b.Stop(t)
	p.Settled(a)
	a.Stop(t)
	p.Audit()
	plant.SameOutputs(t, want, p.Outputs())
}

// TestFaultRedisDownAndBack takes dedupe's Redis away mid-run and brings
// it back on the same address.
func TestFaultRedisDownAndBack(t *testing.T) {
	recs := plant.Input(t, size())
	want := plant.Reference(t, recs)

	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		t.Fatal(err)
	}
	addr := mr.Addr()
	t.Cleanup(mr.Close)
	p := plant.New(t, recs, []string{"--max-batch", "50", "--redis", "redis://" + addr})
	pr := p.Run("pod-1")
	plant.WaitProgress(t, pr)
	mr.Close()
	pipelinetest.Eventually(t, "dedupe to notice Redis is down", func() bool { return pr.Metric("smaint_dedupe_store_up") == 0 })
	mr2 := miniredis.NewMiniRedis()
	if err := mr2.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mr2.Close)
	p.Settled(pr)
	pr.Stop(t)
	p.Audit()
	plant.SameOutputs(t, want, p.Outputs())
}

// TestFaultOversizedAndInvalidRecords adds, among the readings, a 5 MB
// and a 900 KB reading, undecodable bytes, and readings with NUL and
// invalid UTF-8, on a readings topic that takes them all. Each goes to the
// dead-letter topic, and every stage goes on.
func TestFaultOversizedAndInvalidRecords(t *testing.T) {
	recs := plant.Input(t, size())
	bad := plant.BadRecords(t)
	p := plant.New(t, recs, nil)
	_, err := kadm.NewClient(p.Admin).AlterTopicConfigs(pipelinetest.Context(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("8388608")}}, pipeline.DefaultTopics().Readings)
	if err != nil {
		t.Fatal(err)
	}
	big := pipelinetest.Client(t, []string{p.Addr}, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchMaxBytes(16<<20))
	pipelinetest.Produce(t, big, bad...)
	pr := p.Run("pod-1")
	p.Settled(pr)
	pr.Stop(t)
	rep := p.Audit()
	if rep.Readings != int64(len(recs)+len(bad)) {
		t.Errorf("%d readings, want %d", rep.Readings, len(recs)+len(bad))
	}
	byOffset := map[string]*kgo.Record{}
	for _, r := range pipelinetest.ReadCommitted(t, []string{p.Addr}, pipeline.DefaultTopics().DLQ) {
		if pipelinetest.Header(r, pipeline.HeaderSourceTopic) == pipeline.DefaultTopics().Readings && pipelinetest.Header(r, pipeline.HeaderSourcePartition) == "0" {
			byOffset[pipelinetest.Header(r, pipeline.HeaderSourceOffset)] = r
		}
	}
	for i, b := range bad {
		dl := byOffset[strconv.FormatInt(b.Offset, 10)]
		switch {
		case dl == nil:
			t.Errorf("bad record %d (offset %d) is not on the dead-letter topic", i, b.Offset)
		case len(dl.Value) > 64<<10:
			t.Errorf("bad record %d: a dead letter of %d bytes", i, len(dl.Value))
		case len(b.Value) > 64<<10 && pipelinetest.Header(dl, pipeline.HeaderOriginalSize) != strconv.Itoa(len(b.Value)):
			t.Errorf("bad record %d: original size %q, want %d", i, pipelinetest.Header(dl, pipeline.HeaderOriginalSize), len(b.Value))
		}
	}
}

// TestFaultPostgresTerminatedAndLocked runs every stage, the sink with
// them, and mid-run terminates the sink's database connections, then
// holds an exclusive lock on sensor_readings past the statement timeout.
// The audit then covers the database too: every clean reading stored.
func TestFaultPostgresTerminatedAndLocked(t *testing.T) {
	recs := plant.Input(t, size())
	want := plant.Reference(t, recs)

	pool, schema := pipelinetest.Postgres(t)
	db := pipelinetest.SchemaURL(t, schema) // its connections are named after the schema: the test terminates them
	if out, err := exec.Command(plant.Binary(t), "migrate", "--database-url", db).CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}

	p := plant.New(t, recs, []string{"--stages", "all", "--database-url", db, "--db-statement-timeout", "2s", "--max-batch", "200"})
	pr := p.Run("pod-1")
	plant.WaitProgress(t, pr)
	ctx := pipelinetest.Context(t)
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, schema); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE sensor_readings IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	locked := pr.Metric("smaint_sink_write_errors_total")
	pipelinetest.Eventually(t, "a write to fail on the locked table", func() bool {
		return pr.Metric("smaint_sink_write_errors_total") > locked
	})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	p.Settled(pr)
	pr.Stop(t)

	rep, err := audit.Run(ctx, audit.Kafka(kgo.SeedBrokers(p.Addr)), audit.Config{
		Stored: func(ctx context.Context, from, to time.Time) (map[string]bool, error) {
			return timescale.ReadingIDs(ctx, pool, from, to)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Stages[len(rep.Stages)-1].Topic != "sensor_readings" || rep.Stages[len(rep.Stages)-1].Records == 0 {
		var b strings.Builder
		rep.Print(&b)
		t.Errorf("audit:\n%s", b.String())
	}
	plant.SameOutputs(t, want, p.Outputs())
}
