-- Each alert's latest event, kept by a trigger as events are stored, so
-- that "which alerts are open" (the HTTP API's GET /v1/alerts) reads the
-- open alerts by index instead of every event ever stored. The latest
-- event is the one alerts_current picks: the greatest (last_seen,
-- occurrences, state rank), whatever order events arrive in (a replay, a
-- second sink replica). It may run again over its own result (a schema
-- repaired by hand, as migrate_test does): every statement is idempotent.
CREATE TABLE IF NOT EXISTS alerts_latest (LIKE alert_events INCLUDING DEFAULTS, PRIMARY KEY (alert_id));
CREATE INDEX IF NOT EXISTS alerts_latest_open ON alerts_latest (last_seen DESC) WHERE state <> 'RESOLVED';
CREATE INDEX IF NOT EXISTS alerts_latest_sensor ON alerts_latest (sensor_id, last_seen DESC);
CREATE INDEX IF NOT EXISTS alerts_latest_asset ON alerts_latest (asset_id, last_seen DESC);

CREATE OR REPLACE FUNCTION alert_state_rank(state text) RETURNS int
    LANGUAGE sql IMMUTABLE AS $$ SELECT CASE state WHEN 'RESOLVED' THEN 2 WHEN 'UPDATED' THEN 1 ELSE 0 END $$;

CREATE OR REPLACE FUNCTION alerts_latest_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO alerts_latest SELECT NEW.*
    ON CONFLICT (alert_id) DO UPDATE SET
        state = EXCLUDED.state, last_seen = EXCLUDED.last_seen, occurrences = EXCLUDED.occurrences,
        asset_id = EXCLUDED.asset_id, sensor_id = EXCLUDED.sensor_id, sensor_type = EXCLUDED.sensor_type,
        kind = EXCLUDED.kind, severity = EXCLUDED.severity, opened_at = EXCLUDED.opened_at, summary = EXCLUDED.summary,
        recommended_action = EXCLUDED.recommended_action, evidence = EXCLUDED.evidence, onset = EXCLUDED.onset
    WHERE (EXCLUDED.last_seen, EXCLUDED.occurrences, alert_state_rank(EXCLUDED.state))
        > (alerts_latest.last_seen, alerts_latest.occurrences, alert_state_rank(alerts_latest.state));
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS alerts_latest_keep ON alert_events;
CREATE TRIGGER alerts_latest_keep AFTER INSERT ON alert_events
    FOR EACH ROW EXECUTE FUNCTION alerts_latest_keep();

INSERT INTO alerts_latest SELECT * FROM alerts_current ON CONFLICT (alert_id) DO NOTHING;

-- The trigger runs in the inserting session: resolve its table where this
-- migration created it, whatever that session's search_path.
ALTER FUNCTION alerts_latest_keep() SET search_path FROM CURRENT;
