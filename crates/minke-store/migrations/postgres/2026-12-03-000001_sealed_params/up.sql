-- Secret parameters of a run executed by workers, sealed with the key submitters and
-- workers share; erased when the run ends.
ALTER TABLE minke_runs ADD COLUMN sealed_params TEXT;
