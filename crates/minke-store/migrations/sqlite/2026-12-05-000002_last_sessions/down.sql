DROP TRIGGER minke_last_sessions_update;
DROP TRIGGER minke_last_sessions_insert;
DROP TABLE minke_last_sessions;
