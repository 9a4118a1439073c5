-- Without TimescaleDB, smaint keeps the hourly rollup itself, exactly:
-- each transaction of the sink appends the aggregates of the rows it
-- actually inserted to sensor_readings_hourly_delta (an append is far
-- cheaper than updating rollup rows under a stream of writes), and a
-- compaction folds the deltas into sensor_readings_hourly_base every
-- few seconds. The view sensor_readings_hourly adds the two, so it always
-- equals a GROUP BY over the raw rows, compacted or not. avg comes from an
-- exact running sum.
CREATE TABLE sensor_readings_hourly_base (
    bucket    timestamptz      NOT NULL,
    sensor_id text             NOT NULL,
    sum       double precision NOT NULL,
    count     bigint           NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL,
    PRIMARY KEY (sensor_id, bucket)
);

CREATE TABLE sensor_readings_hourly_delta (
    bucket    timestamptz      NOT NULL,
    sensor_id text             NOT NULL,
    sum       double precision NOT NULL,
    count     bigint           NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL
);

CREATE VIEW sensor_readings_hourly AS
    SELECT bucket,
           sensor_id,
           sum(sum) / sum(count) AS avg,
           min(min)              AS min,
           max(max)              AS max,
           sum(count)::bigint    AS count
    FROM (SELECT * FROM sensor_readings_hourly_base
          UNION ALL
          SELECT * FROM sensor_readings_hourly_delta) parts
    GROUP BY bucket, sensor_id;

-- Retention (run by smaint) deletes by time; a BRIN index finds old rows
-- at almost no cost to inserts, since rows arrive roughly in time order.
CREATE INDEX sensor_readings_ts ON sensor_readings USING brin (ts);
