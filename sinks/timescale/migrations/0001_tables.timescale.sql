SELECT create_hypertable('sensor_readings', 'ts', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('sensor_features', 'window_start', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('anomaly_scores', 'window_start', chunk_time_interval => INTERVAL '7 days');
SELECT create_hypertable('drift_reports', 'current_start', chunk_time_interval => INTERVAL '30 days');

ALTER TABLE sensor_readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'sensor_id',
    timescaledb.compress_orderby = 'ts DESC'
);

-- Refreshed by the policy smaint migrate installs; WITH NO DATA lets this
-- run inside the migration's transaction.
CREATE MATERIALIZED VIEW sensor_readings_hourly WITH (timescaledb.continuous) AS
    SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket,
           sensor_id,
           avg(value)  AS avg,
           min(value)  AS min,
           max(value)  AS max,
           count(*)    AS count
    FROM sensor_readings
    GROUP BY bucket, sensor_id
    WITH NO DATA;
