-- The sessions of a run still to end, by host: what a work item runs next, and
-- whether anything of a run is left.
CREATE INDEX minke_sessions_open ON minke_sessions (run_id, host_id) WHERE state IN ('initialized', 'running');
