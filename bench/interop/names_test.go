package interop_test

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/bench/plant"
	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/pipeline/pipelinetest"
)

// TestTwoDeploymentsShareACluster runs two deployments with different
// topic and group prefixes on one broker, over the same readings: each
// touches only its own topics and groups, and each computes what the
// other does.
func TestTwoDeploymentsShareACluster(t *testing.T) {
	recs := plant.Input(t, 60_000)
	p := plant.New(t, nil, nil)
	deployments := []struct{ topicPrefix, groupPrefix string }{{"plant-a.", "a-"}, {"plant-b.", "b-"}}
	var procs []*plant.Proc
	for _, d := range deployments {
		topics := pipeline.DefaultTopics().WithPrefix(d.topicPrefix)
		pipelinetest.CreateTopic(t, p.Admin, plant.Partitions, topics.Readings)
		cp := make([]*kgo.Record, len(recs))
		for i, r := range recs {
			cp[i] = &kgo.Record{Topic: topics.Readings, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		}
		pipelinetest.Produce(t, p.Admin, cp...)
		procs = append(procs, p.Run("pod-"+d.groupPrefix, "--topic-prefix", d.topicPrefix, "--group-prefix", d.groupPrefix))
	}
	p.Settled(procs...)
	for _, pr := range procs {
		pr.Stop(t)
	}

	ctx := pipelinetest.Context(t)
	adm := kadm.NewClient(p.Admin)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range topics.Names() {
		if name != pipeline.DefaultTopics().Readings && !strings.HasPrefix(name, "plant-a.") && !strings.HasPrefix(name, "plant-b.") {
			t.Errorf("topic %s belongs to neither deployment", name)
		}
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups.Groups() {
		if !strings.HasPrefix(g, "a-smaint-") && !strings.HasPrefix(g, "b-smaint-") {
			t.Errorf("group %s belongs to neither deployment", g)
		}
	}
	var outputs []map[string]map[string]int
	for _, d := range deployments {
		topics := pipeline.DefaultTopics().WithPrefix(d.topicPrefix)
		if rep := p.AuditOf(topics); rep.Readings != int64(len(recs)) {
			t.Errorf("%s: audit read %d readings, want %d", d.topicPrefix, rep.Readings, len(recs))
		}
		outputs = append(outputs, p.OutputsOf(topics))
	}
	plant.SameOutputs(t, outputs[0], outputs[1])
}
