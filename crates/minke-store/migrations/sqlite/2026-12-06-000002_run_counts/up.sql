-- An ended run keeps its sessions' counts by state and status, so that a list of
-- runs does not count their sessions again (JSON of `Counts`; NULL while it runs).
ALTER TABLE minke_runs ADD COLUMN counts TEXT;
UPDATE minke_runs SET counts = (
    SELECT json_object(
        'total', count(*),
        'waiting', coalesce(sum(s.state = 'initialized'), 0),
        'running', coalesce(sum(s.state = 'running'), 0),
        'done', coalesce(sum(s.state NOT IN ('initialized', 'running')), 0),
        'success', coalesce(sum(s.status = 'success'), 0),
        'warning', coalesce(sum(s.status = 'warning'), 0),
        'error', coalesce(sum(s.status = 'error'), 0),
        'canceled', coalesce(sum(s.state = 'canceled'), 0))
    FROM minke_sessions s WHERE s.run_id = minke_runs.id)
WHERE finished_at IS NOT NULL;
