DROP INDEX minke_sessions_open;
