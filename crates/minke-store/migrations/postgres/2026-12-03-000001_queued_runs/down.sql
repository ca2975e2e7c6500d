ALTER TABLE minke_runs DROP COLUMN concurrency;
ALTER TABLE minke_runs DROP COLUMN sealed_params;
