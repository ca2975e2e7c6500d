ALTER TABLE minke_runs DROP COLUMN sealed_params;
