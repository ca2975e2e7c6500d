-- What is left of a run, by host: its sessions still to end and its work items
-- not over (a big run asks at the end of each item).
CREATE INDEX minke_sessions_open ON minke_sessions (run_id, host_id) WHERE state IN ('initialized', 'running');
CREATE INDEX minke_work_items_open ON minke_work_items (run_id) WHERE state IN ('queued', 'claimed', 'running');
