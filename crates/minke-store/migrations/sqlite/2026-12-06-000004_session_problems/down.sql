DROP INDEX minke_sessions_warnings;
DROP INDEX minke_sessions_errors;
