package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/smaint/smaint/pipeline"
	"github.com/smaint/smaint/schemas"
	"github.com/smaint/smaint/stages"
)

// followMaintenance, when the rul stage runs, has it follow
// asset.maintenance: every record there at the start is handed to the
// stage as it is built, before it reads any input, and the rest as they
// come, by a watcher. The topic is read whole by every instance, outside
// any consumer group, so its producers may partition it as they like.
// Records that do not decode are logged and skipped.
func followMaintenance(ctx context.Context, cfg *stages.Config, d *deps, specs []stages.Spec, w *wiring, opts []pipeline.Option, kopts []kgo.Opt) error {
	if !slices.ContainsFunc(specs, func(s stages.Spec) bool { return s.Name == "rul" }) {
		return nil
	}
	topic := d.topics.Maintenance
	p, _, err := maintenanceProducer(ctx, topic, opts)
	if err != nil {
		return err
	}
	p.Close()
	log := d.log.With("component", "maintenance")
	dec := d.serde.NewDecoder()
	decode := func(partition int32, offset int64, value []byte) (*schemas.Maintenance, bool) {
		var m schemas.Maintenance
		if err := dec.Decode(ctx, value, &m); err != nil {
			log.Warn("unreadable record on the maintenance topic, skipped", "topic", topic, "partition", partition, "offset", offset, "err", err)
			return nil, false
		}
		return &m, true
	}
	start := map[int32]int64{} // partition -> first offset not read at the start
	var history []*schemas.Maintenance
	err = pipeline.ReadTopic(ctx, topic, true, func(r *kgo.Record) {
		start[r.Partition] = max(start[r.Partition], r.Offset+1)
		if m, ok := decode(r.Partition, r.Offset, r.Value); ok {
			history = append(history, m)
		}
	}, kopts...)
	if err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	var apply func(*schemas.Maintenance)
	cfg.FollowMaintenance = func(a func(*schemas.Maintenance)) {
		apply = a
		for _, m := range history {
			a(m)
		}
		log.Info("maintenance records read", "topic", topic, "records", len(history))
	}
	watcher, err := pipeline.NewWatcher(func(o *pipeline.Observed) {
		if o.Offset < start[o.Partition] || apply == nil {
			return // history, read above
		}
		if m, ok := decode(o.Partition, o.Offset, o.Value); ok {
			apply(m)
		}
	}, []string{topic}, opts...)
	if err != nil {
		return err
	}
	w.services = append(w.services, pipeline.ServiceFunc(watcher.Run))
	return nil
}

// maintenanceProducer returns a producer with an output bound to the
// maintenance topic. It creates the topic, if the options say topics are
// created, keeping its records however old: the rul stage reads it whole,
// and a renewal no window has reached yet lives only there. The caller
// closes the producer.
func maintenanceProducer(ctx context.Context, topic string, opts []pipeline.Option) (*pipeline.Producer, *pipeline.Output[*schemas.Maintenance], error) {
	p, err := pipeline.NewProducer(opts...)
	if err != nil {
		return nil, nil, err
	}
	out := pipeline.NewOutput[*schemas.Maintenance](topic)
	if err := p.KeepTopic(ctx, topic); err != nil {
		p.Close()
		return nil, nil, err
	}
	if err := p.Bind(ctx, out); err != nil {
		p.Close()
		return nil, nil, err
	}
	return p, out, nil
}

// maintenanceCmd records work done on an asset on asset.maintenance.
func maintenanceCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("maintenance", "Usage: smaint maintenance --asset ID --action ACTION (--renews | --keeps-life) [--at TIME] --brokers HOST:PORT [flags]\n\n"+
		"Records work done on an asset on the maintenance topic (asset.maintenance). Work that renews\n"+
		"the asset (--renews: a repair, a replacement) ends its remaining-life run, and the rul stage\n"+
		"starts a new one at --at; --keeps-life records work that does not (an inspection).\n", stderr)
	var (
		kf                  kafkaFlags
		lf                  logFlags
		asset, action, note string
		at                  string
		renews, keeps       bool
	)
	kf.register(fs)
	lf.register(fs, "warn")
	fs.StringVar(&asset, "asset", "", "the asset's asset_id, as its sensors' readings give it")
	fs.StringVar(&action, "action", "", "what was done, e.g. repair, replacement, overhaul, inspection")
	fs.StringVar(&at, "at", "", "when it was done, RFC 3339 in the readings' clock (default: now)")
	fs.BoolVar(&renews, "renews", false, "the work renewed the asset (a repair, a replacement): its remaining-life run ends at --at")
	fs.BoolVar(&keeps, "keeps-life", false, "the work did not renew the asset (an inspection): its remaining-life run goes on")
	fs.StringVar(&note, "note", "", "free text kept with the record")
	if err := fs.parse(args); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(asset) == "" || strings.TrimSpace(action) == "":
		return fmt.Errorf("%w: --asset and --action are required", errUsage)
	case renews == keeps:
		return fmt.Errorf("%w: give --renews (a repair, a replacement: the remaining-life run ends) or --keeps-life (an inspection), one of them", errUsage)
	}
	when := time.Now().UTC()
	if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return fmt.Errorf("%w: --at %q: want RFC 3339, e.g. 2026-12-01T08:30:00Z", errUsage, at)
		}
		when = t.UTC()
	}
	if err := kf.validate(); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	d, opts, err := kf.connect(log)
	if err != nil {
		return err
	}
	p, out, err := maintenanceProducer(ctx, d.topics.Maintenance, opts)
	if err != nil {
		return err
	}
	defer p.Close()
	m := &schemas.Maintenance{AssetID: asset, PerformedAt: when, Action: action, Renews: renews, Note: note}
	if err := pipeline.Send(ctx, p, out, asset, m); err != nil {
		return err
	}
	if err := p.Flush(ctx); err != nil {
		return err
	}
	what := "renews it: its remaining-life run ends there"
	if keeps {
		what = "keeps its life: its remaining-life run goes on"
	}
	fmt.Fprintf(stdout, "%s on %s at %s recorded on %s; it %s\n", action, asset, when.Format(time.RFC3339), d.topics.Maintenance, what)
	return nil
}
