DROP TABLE minke_messages;
DROP TABLE minke_commands;
DROP TABLE minke_sessions;
DROP TABLE minke_runs;
DROP TABLE minke_host_locks;
DROP TABLE minke_host_group_members;
DROP TABLE minke_host_groups;
DROP TABLE minke_hosts;
