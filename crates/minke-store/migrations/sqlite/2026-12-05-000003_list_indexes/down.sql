CREATE INDEX minke_sessions_run ON minke_sessions (run_id);
DROP INDEX minke_sessions_run_outcome;
DROP INDEX minke_hosts_disabled;
DROP INDEX minke_hosts_username;
DROP INDEX minke_hosts_port;
DROP INDEX minke_hosts_hostname;
