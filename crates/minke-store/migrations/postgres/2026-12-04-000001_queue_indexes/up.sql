-- A worker's held items by worker and id: a session's start asks whether its
-- worker still holds its item, and found it among all the items the worker held.
DROP INDEX minke_work_items_held;
CREATE INDEX minke_work_items_held ON minke_work_items (worker, id) WHERE state IN ('claimed', 'running');
-- A run's open items by id: whether a run has work left is asked from its newest
-- item down, past the items that ended (dead entries until the table is vacuumed)
-- only when the run is nearly over.
DROP INDEX minke_work_items_open;
CREATE INDEX minke_work_items_open ON minke_work_items (run_id, id) WHERE state IN ('queued', 'claimed', 'running');
