ALTER TABLE minke_runs DROP COLUMN stop_requested;
