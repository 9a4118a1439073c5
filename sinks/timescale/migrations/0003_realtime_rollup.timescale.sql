-- The hourly rollup answers with real-time aggregation: materialized
-- buckets plus, for the hours not materialized yet (the current one, and
-- any the refresh policy has not reached), the readings themselves. So it
-- equals a GROUP BY over sensor_readings at any moment, as the plain-mode
-- view does, instead of missing the latest hours.
ALTER MATERIALIZED VIEW sensor_readings_hourly SET (timescaledb.materialized_only = false);
