-- The queue: one row per run and host (that host's sessions of the run, in order).
-- Times are microseconds since the epoch on the database's clock.
CREATE TABLE minke_work_items (
    id BIGSERIAL PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES minke_runs (id) ON DELETE CASCADE,
    host_id BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'claimed', 'running', 'done', 'lost')),
    worker TEXT,
    lease_until BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX minke_work_items_queued ON minke_work_items (id) WHERE state = 'queued';
CREATE INDEX minke_work_items_held ON minke_work_items (worker) WHERE state IN ('claimed', 'running');
CREATE INDEX minke_work_items_lease ON minke_work_items (lease_until) WHERE state IN ('claimed', 'running');
CREATE INDEX minke_work_items_run ON minke_work_items (run_id, host_id);
