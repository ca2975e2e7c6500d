-- An ended run keeps its sessions' counts by state and status, so that a list of
-- runs does not count their sessions again (JSON of `Counts`; NULL while it runs).
ALTER TABLE minke_runs ADD COLUMN counts TEXT;
UPDATE minke_runs SET counts = (
    SELECT json_build_object(
        'total', count(*),
        'waiting', count(*) FILTER (WHERE s.state = 'initialized'),
        'running', count(*) FILTER (WHERE s.state = 'running'),
        'done', count(*) FILTER (WHERE s.state NOT IN ('initialized', 'running')),
        'success', count(*) FILTER (WHERE s.status = 'success'),
        'warning', count(*) FILTER (WHERE s.status = 'warning'),
        'error', count(*) FILTER (WHERE s.status = 'error'),
        'canceled', count(*) FILTER (WHERE s.state = 'canceled'))::text
    FROM minke_sessions s WHERE s.run_id = minke_runs.id)
WHERE finished_at IS NOT NULL;
