ALTER TABLE minke_runs ADD COLUMN stop_requested SMALLINT;
