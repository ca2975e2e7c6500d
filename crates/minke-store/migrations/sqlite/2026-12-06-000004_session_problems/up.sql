-- The sessions that ended in error or with a warning, each in a small index of its
-- own: the sessions list filtered by either status counts and pages them without
-- reading the whole history, and the (many more) successful ones cost nothing.
CREATE INDEX minke_sessions_errors ON minke_sessions (id) WHERE status = 'error';
CREATE INDEX minke_sessions_warnings ON minke_sessions (id) WHERE status = 'warning';
