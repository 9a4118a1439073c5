-- Alerts carry the anomaly's onset: the start of the first anomalous
-- window (of a drift alert, its drifted window's; of a silence, the end
-- of the sensor's last window). NULL for rows stored before.
ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS onset timestamptz;
