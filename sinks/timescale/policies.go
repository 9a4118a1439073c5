package timescale

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RunPolicies runs the storage policies once, now, in the schema's mode,
// and says what each did: on TimescaleDB its compression, retention and
// rollup-refresh jobs (RunJobs); on plain PostgreSQL smaint's own rollup
// compaction and retention (Maintainer.Compact, Maintainer.Retain). It
// is `smaint migrate --run-policies`: for a scheduler that cannot run
// jobs, or to apply a changed policy without waiting for its schedule.
func RunPolicies(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	st, err := ReadSettings(ctx, pool)
	if err != nil {
		return nil, err
	}
	if st.Mode == ModeTimescale {
		jobs, err := RunJobs(ctx, pool)
		done := make([]string, len(jobs))
		for i, j := range jobs {
			done[i] = fmt.Sprintf("%s (job %d)", j.Name(), j.ID)
		}
		return done, err
	}
	m := Maintainer{Pool: pool}
	folded, err := m.Compact(ctx)
	if err != nil {
		return nil, err
	}
	done := []string{fmt.Sprintf("rollup compaction (%d deltas folded)", folded)}
	deleted, err := m.Retain(ctx)
	if err != nil {
		return done, err
	}
	return append(done, fmt.Sprintf("retention (%d readings deleted)", deleted)), nil
}
