-- Maintenance: work done on an asset, as its operators recorded it on
-- asset.maintenance (smaint maintenance, or any producer). A small table,
-- a plain one in both modes.
CREATE TABLE IF NOT EXISTS asset_maintenance (
    asset_id     text        NOT NULL,
    performed_at timestamptz NOT NULL,
    action       text        NOT NULL,
    renews       boolean     NOT NULL,
    note         text        NOT NULL,
    PRIMARY KEY (asset_id, performed_at, action)
);
