-- Predictions: a supervised model's failure probabilities for one asset
-- at one window start (the predict stage, on asset.features).
CREATE TABLE IF NOT EXISTS asset_predictions (
    asset_id      text             NOT NULL,
    model         text             NOT NULL,
    window_start  timestamptz      NOT NULL,
    window_end    timestamptz      NOT NULL,
    model_version text             NOT NULL,
    probabilities jsonb            NOT NULL,
    threshold     double precision NOT NULL,
    inputs        jsonb            NOT NULL,
    drivers       jsonb            NOT NULL,
    PRIMARY KEY (asset_id, model, window_start)
);
