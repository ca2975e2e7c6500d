DROP TRIGGER minke_last_sessions_update ON minke_sessions;
DROP TRIGGER minke_last_sessions_insert ON minke_sessions;
DROP FUNCTION minke_last_sessions_track();
DROP TABLE minke_last_sessions;
