SELECT create_hypertable('asset_predictions', 'window_start', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE);
