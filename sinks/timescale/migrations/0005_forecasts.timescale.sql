SELECT create_hypertable('sensor_forecasts', 'issued_at', chunk_time_interval => INTERVAL '7 days', if_not_exists => TRUE);
