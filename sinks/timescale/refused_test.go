package timescale

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// refuse makes the database refuse every reading whose reading_id is in
// ids, with SQLSTATE code, from a row trigger: the way a replay into a
// compressed chunk past TimescaleDB's decompression limit (53400), or a
// site's own validation trigger, fails a write however often it is tried.
func refuse(t *testing.T, pool *pgxpool.Pool, code string, ids ...string) {
	t.Helper()
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = "'" + id + "'"
	}
	_, err := pool.Exec(context.Background(), fmt.Sprintf(`
		CREATE OR REPLACE FUNCTION refuse_readings() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.reading_id::text IN (%s) THEN
				RAISE EXCEPTION 'refused by the test' USING ERRCODE = '%s';
			END IF;
			RETURN NEW;
		END $$;
		DROP TRIGGER IF EXISTS refuse_readings ON sensor_readings;
		CREATE TRIGGER refuse_readings BEFORE INSERT ON sensor_readings FOR EACH ROW EXECUTE FUNCTION refuse_readings();`,
		strings.Join(quoted, ", "), code))
	if err != nil {
		t.Fatal(err)
	}
}

// TestABatchThatKeepsFailingIsSplit: rows the database refuses with an
// error that is not bad data (here 53400, as TimescaleDB answers a write
// past its decompression limit) fail their batch every time; after
// DefaultSplitAfter attempts the sink splits the batch, dead-letters
// exactly those rows, stores the rest once, and the group moves on.
func TestABatchThatKeepsFailingIsSplit(t *testing.T) {
	pool, _ := migrated(t)
	c, cl := kafka(t)
	pipelinetest.CreateTopic(t, cl, 1, pipeline.DefaultTopics().DLQ)
	rs := readings(0, 5000, 20)
	refused := map[string]bool{rs[17].ReadingID: true, rs[2400].ReadingID: true, rs[4999].ReadingID: true}
	refuse(t, pool, "53400", rs[17].ReadingID, rs[2400].ReadingID, rs[4999].ReadingID)
	byValue := map[string]string{}
	for i, r := range pipelinetest.Readings(t, topic, rs) {
		byValue[string(r.Value)] = rs[i].ReadingID
	}
	produce(t, cl, rs)

	reg := prometheus.NewRegistry()
	startSink(t, c, pool, "sink", reg, nil)
	pipelinetest.WaitCommitted(t, cl, "sink", topic)

	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 5000-3 {
		t.Fatalf("%d rows stored, want 4997", n)
	}
	dlq := pipelinetest.ReadAll(t, c.ListenAddrs(), pipeline.DefaultTopics().DLQ)
	if len(dlq) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dlq))
	}
	for _, d := range dlq {
		id := byValue[string(d.Value)]
		if !refused[id] {
			t.Errorf("dead-lettered reading %q was not refused", id)
		}
		delete(refused, id)
		if msg := pipelinetest.Header(d, pipeline.HeaderError); !strings.Contains(msg, "refused by the test") {
			t.Errorf("dead letter's error %q does not give the database's reason", msg)
		}
	}
	if failed := testutil.ToFloat64(newSinkMetrics(reg).errors.WithLabelValues("sensor_readings")); failed < DefaultSplitAfter-1 {
		t.Errorf("%v failed writes before the split, want at least %d", failed, DefaultSplitAfter-1)
	}
	checkRollup(t, pool)
}

// TestAnOutageIsNeverDeadLettered: an error that names the database or
// the session (here 57014, a statement cancelled) fails every attempt,
// many more than DefaultSplitAfter, yet nothing is dead-lettered and
// nothing committed; once the database takes the rows, all are stored.
func TestAnOutageIsNeverDeadLettered(t *testing.T) {
	pool, _ := migrated(t)
	c, cl := kafka(t)
	pipelinetest.CreateTopic(t, cl, 1, pipeline.DefaultTopics().DLQ)
	rs := readings(0, 2000, 10)
	refuse(t, pool, "57014", rs[5].ReadingID)
	produce(t, cl, rs)

	reg := prometheus.NewRegistry()
	stop := startSink(t, c, pool, "sink", reg, nil)
	failed := func() float64 {
		return testutil.ToFloat64(newSinkMetrics(reg).errors.WithLabelValues("sensor_readings"))
	}
	pipelinetest.Eventually(t, "several failed writes", func() bool { return failed() >= 3*DefaultSplitAfter })
	stop()
	if dlq := pipelinetest.ReadAll(t, c.ListenAddrs(), pipeline.DefaultTopics().DLQ); len(dlq) != 0 {
		t.Fatalf("%d dead letters for an error of the session", len(dlq))
	}
	lag, err := pipeline.GroupLag(context.Background(), cl, "sink", topic)
	if err != nil || lag == 0 {
		t.Fatalf("lag %d (%v): offsets committed past rows never stored", lag, err)
	}

	if _, err := pool.Exec(context.Background(), `DROP TRIGGER refuse_readings ON sensor_readings`); err != nil {
		t.Fatal(err)
	}
	startSink(t, c, pool, "sink", prometheus.NewRegistry(), nil)
	pipelinetest.WaitCommitted(t, cl, "sink", topic)
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 2000 {
		t.Fatalf("%d rows stored, want 2000", n)
	}
	checkRollup(t, pool)
}

// TestATableThatRefusesEverythingDeadLettersNothing: a trigger that
// refuses every row (a misconfigured table, not bad data) fails every
// row alone as it failed the batch: nothing is dead-lettered, the batch
// waits, and once the table is fixed every row is stored.
func TestATableThatRefusesEverythingDeadLettersNothing(t *testing.T) {
	pool, _ := migrated(t)
	c, cl := kafka(t)
	pipelinetest.CreateTopic(t, cl, 1, pipeline.DefaultTopics().DLQ)
	rs := readings(0, 200, 10)
	ids := make([]string, len(rs))
	for i := range rs {
		ids[i] = rs[i].ReadingID
	}
	refuse(t, pool, "P0001", ids...)
	produce(t, cl, rs)

	reg := prometheus.NewRegistry()
	stop := startSink(t, c, pool, "sink", reg, nil)
	failed := func() float64 {
		return testutil.ToFloat64(newSinkMetrics(reg).errors.WithLabelValues("sensor_readings"))
	}
	noDeadLetters := func() {
		if dlq := pipelinetest.ReadAll(t, c.ListenAddrs(), pipeline.DefaultTopics().DLQ); len(dlq) != 0 {
			t.Fatalf("%d dead letters for a table that refuses everything", len(dlq))
		}
	}
	pipelinetest.Eventually(t, "several rounds of failed writes", func() bool {
		noDeadLetters()
		return failed() >= 3*DefaultSplitAfter
	})
	stop()
	noDeadLetters()
	if _, err := pool.Exec(context.Background(), `DROP TRIGGER refuse_readings ON sensor_readings`); err != nil {
		t.Fatal(err)
	}
	startSink(t, c, pool, "sink", prometheus.NewRegistry(), nil)
	pipelinetest.WaitCommitted(t, cl, "sink", topic)
	if n := count(t, pool, `SELECT count(*) FROM sensor_readings`); n != 200 {
		t.Fatalf("%d rows stored, want 200", n)
	}
}
