DROP INDEX minke_work_items_open;
CREATE INDEX minke_work_items_open ON minke_work_items (run_id) WHERE state IN ('queued', 'claimed', 'running');
DROP INDEX minke_work_items_held;
CREATE INDEX minke_work_items_held ON minke_work_items (worker) WHERE state IN ('claimed', 'running');
