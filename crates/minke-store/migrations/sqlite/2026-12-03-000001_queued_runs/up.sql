-- What a run executed by workers carries: its secret parameters, sealed with the key
-- submitters and workers share (erased when the run ends), and how many of its
-- hosts may be worked on at once over all workers (none: no limit of its own).
ALTER TABLE minke_runs ADD COLUMN sealed_params TEXT;
ALTER TABLE minke_runs ADD COLUMN concurrency INTEGER;
