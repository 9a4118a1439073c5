-- Predictions: a supervised model's verdict on one asset at one window
-- start (the predict stage, on asset.features): failure probabilities,
-- or the remaining useful life with its 80% interval (NULL from a
-- classifier).
CREATE TABLE IF NOT EXISTS asset_predictions (
    asset_id        text             NOT NULL,
    model           text             NOT NULL,
    window_start    timestamptz      NOT NULL,
    window_end      timestamptz      NOT NULL,
    model_version   text             NOT NULL,
    probabilities   jsonb            NOT NULL,
    threshold       double precision NOT NULL,
    inputs          jsonb            NOT NULL,
    drivers         jsonb            NOT NULL,
    remaining_life  double precision,
    remaining_lower double precision,
    remaining_upper double precision,
    PRIMARY KEY (asset_id, model, window_start)
);
