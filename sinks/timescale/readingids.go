package timescale

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ReadingIDs returns the reading ids stored in sensor_readings with
// timestamps in [from, to] (what an audit compares with the clean topic).
func ReadingIDs(ctx context.Context, pool *pgxpool.Pool, from, to time.Time) (map[string]bool, error) {
	rows, err := pool.Query(ctx, `SELECT reading_id::text FROM sensor_readings WHERE ts BETWEEN $1 AND $2`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reading ids: %w", err)
	}
	defer rows.Close()
	ids := map[string]bool{}
	var id string
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("reading ids: %w", err)
		}
		ids[id] = true
	}
	return ids, rows.Err()
}
