-- The tables of every record smaint stores. Keys are the records'
-- deterministic identities, so a replayed record conflicts instead of
-- duplicating. On TimescaleDB, unique keys of a hypertable must include
-- its time column; these do.

CREATE TABLE sensor_readings (
    ts          timestamptz      NOT NULL,
    sensor_id   text             NOT NULL,
    asset_id    text             NOT NULL,
    sensor_type text             NOT NULL,
    value       double precision NOT NULL,
    unit        text             NOT NULL,
    quality     smallint         NOT NULL,
    reading_id  uuid             NOT NULL,
    tags        jsonb,
    -- The primary key's index also serves ORDER BY ts DESC per sensor: a
    -- B-tree reads backwards as well as forwards.
    PRIMARY KEY (sensor_id, ts)
);

CREATE TABLE sensor_features (
    sensor_id     text             NOT NULL,
    asset_id      text             NOT NULL,
    sensor_type   text             NOT NULL,
    window_start  timestamptz      NOT NULL,
    window_end    timestamptz      NOT NULL,
    count         bigint           NOT NULL,
    mean          double precision NOT NULL,
    std           double precision NOT NULL,
    min           double precision NOT NULL,
    max           double precision NOT NULL,
    rms           double precision NOT NULL,
    skewness      double precision NOT NULL,
    kurtosis      double precision NOT NULL,
    crest_factor  double precision NOT NULL,
    peak_to_peak  double precision NOT NULL,
    slope         double precision NOT NULL,
    band_energies double precision[],
    late_count    bigint           NOT NULL,
    PRIMARY KEY (sensor_id, window_start, window_end)
);

CREATE TABLE anomaly_scores (
    sensor_id     text             NOT NULL,
    asset_id      text             NOT NULL,
    sensor_type   text             NOT NULL,
    window_start  timestamptz      NOT NULL,
    window_end    timestamptz      NOT NULL,
    score         double precision NOT NULL,
    threshold     double precision NOT NULL,
    is_anomaly    boolean          NOT NULL,
    detector      text             NOT NULL,
    model_version text             NOT NULL,
    contributions jsonb,
    deviations    jsonb,
    PRIMARY KEY (sensor_id, window_start, window_end)
);

-- sensor_id is '' for a report over a whole sensor type.
CREATE TABLE drift_reports (
    sensor_type     text             NOT NULL,
    sensor_id       text             NOT NULL,
    asset_id        text             NOT NULL,
    reference_start timestamptz      NOT NULL,
    reference_end   timestamptz      NOT NULL,
    current_start   timestamptz      NOT NULL,
    current_end     timestamptz      NOT NULL,
    reference_count bigint           NOT NULL,
    current_count   bigint           NOT NULL,
    ks_statistic    double precision NOT NULL,
    ks_p_value      double precision NOT NULL,
    psi             double precision NOT NULL,
    drifted         boolean          NOT NULL,
    method          text             NOT NULL,
    PRIMARY KEY (sensor_type, sensor_id, current_start)
);

-- Every record of the alert topic: an alert's OPEN, UPDATED and RESOLVED
-- states. alerts_current shows each alert's latest.
CREATE TABLE alert_events (
    alert_id           text        NOT NULL,
    state              text        NOT NULL,
    last_seen          timestamptz NOT NULL,
    occurrences        bigint      NOT NULL,
    asset_id           text        NOT NULL,
    sensor_id          text        NOT NULL,
    sensor_type        text        NOT NULL,
    kind               text        NOT NULL,
    severity           text        NOT NULL,
    opened_at          timestamptz NOT NULL,
    summary            text        NOT NULL,
    recommended_action text        NOT NULL,
    evidence           jsonb,
    PRIMARY KEY (alert_id, last_seen, state, occurrences)
);
CREATE INDEX alert_events_sensor ON alert_events (sensor_id, last_seen DESC);

CREATE VIEW alerts_current AS
    SELECT DISTINCT ON (alert_id) *
    FROM alert_events
    ORDER BY alert_id, last_seen DESC, occurrences DESC,
             CASE state WHEN 'RESOLVED' THEN 2 WHEN 'UPDATED' THEN 1 ELSE 0 END DESC;

CREATE TABLE retrain_events (
    event_id     text             PRIMARY KEY,
    model_name   text             NOT NULL,
    scope        text             NOT NULL,
    reason       text             NOT NULL,
    sensor_id    text             NOT NULL,
    ks_statistic double precision NOT NULL,
    ks_p_value   double precision NOT NULL,
    psi          double precision NOT NULL,
    requested_at timestamptz      NOT NULL
);
