ALTER TABLE minke_runs DROP COLUMN counts;
