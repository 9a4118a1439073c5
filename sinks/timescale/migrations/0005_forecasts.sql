-- Forecasts: where each sensor's forecast feature is heading, issued as
-- each window closes. limit_direction and limit_value are NULL for a
-- sensor without a limit; a crossing time is NULL when it falls beyond
-- the horizon.
CREATE TABLE IF NOT EXISTS sensor_forecasts (
    sensor_id          text             NOT NULL,
    asset_id           text             NOT NULL,
    sensor_type        text             NOT NULL,
    feature            text             NOT NULL,
    issued_at          timestamptz      NOT NULL,
    horizon_s          double precision NOT NULL,
    observed           double precision NOT NULL,
    level              double precision NOT NULL,
    trend_per_hour     double precision NOT NULL,
    value              double precision NOT NULL,
    lower              double precision NOT NULL,
    upper              double precision NOT NULL,
    limit_direction    text,
    limit_value        double precision,
    crosses_in_s       double precision,
    crosses_earliest_s double precision,
    crosses_latest_s   double precision,
    model              text             NOT NULL,
    PRIMARY KEY (sensor_id, issued_at)
);
