CREATE TABLE minke_hosts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    hostname TEXT,
    port INTEGER NOT NULL DEFAULT 22 CHECK (port BETWEEN 1 AND 65535),
    username TEXT,
    identity_file TEXT,
    host_key_policy TEXT NOT NULL DEFAULT 'strict' CHECK (host_key_policy IN ('strict', 'accept-new', 'off')),
    known_hosts TEXT,
    disabled BOOLEAN NOT NULL DEFAULT 0,
    comment TEXT
);

CREATE TABLE minke_host_groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    comment TEXT
);

CREATE TABLE minke_host_group_members (
    host_id BIGINT NOT NULL REFERENCES minke_hosts (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES minke_host_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (host_id, group_id)
);

CREATE TABLE minke_host_locks (
    host_id BIGINT PRIMARY KEY NOT NULL,
    run_id BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE minke_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    session TEXT NOT NULL,
    model TEXT NOT NULL,
    username TEXT NOT NULL,
    params TEXT NOT NULL,
    selection TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX minke_runs_created ON minke_runs (created_at);

CREATE TABLE minke_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    run_id BIGINT NOT NULL REFERENCES minke_runs (id) ON DELETE CASCADE,
    session TEXT NOT NULL,
    model TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    object_label TEXT NOT NULL,
    host_id BIGINT,
    host_name TEXT,
    state TEXT NOT NULL,
    status TEXT,
    reason TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX minke_sessions_run ON minke_sessions (run_id);
CREATE INDEX minke_sessions_object ON minke_sessions (model, object_id, id);
CREATE INDEX minke_sessions_created ON minke_sessions (created_at);

CREATE TABLE minke_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    session_id BIGINT NOT NULL REFERENCES minke_sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    command TEXT NOT NULL,
    exit_code INTEGER,
    exit_signal TEXT,
    stdout BLOB NOT NULL,
    stderr BLOB NOT NULL,
    stdout_len BIGINT NOT NULL,
    stderr_len BIGINT NOT NULL,
    stdout_truncated BOOLEAN NOT NULL,
    stderr_truncated BOOLEAN NOT NULL,
    started_at BIGINT NOT NULL,
    duration_us BIGINT NOT NULL
);
CREATE INDEX minke_commands_session ON minke_commands (session_id, seq);

CREATE TABLE minke_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    session_id BIGINT NOT NULL REFERENCES minke_sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    level TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX minke_messages_session ON minke_messages (session_id, seq);

CREATE TABLE minke_app_migrations (
    name TEXT PRIMARY KEY NOT NULL,
    applied_at BIGINT NOT NULL
);
