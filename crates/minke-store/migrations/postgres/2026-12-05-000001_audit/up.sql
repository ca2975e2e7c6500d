-- Who did what, when: logins, user and permission changes, host and object edits,
-- runs started and stopped. Failed logins are one row per user name, address and
-- minute (`bucket` names it; `count` says how many), so a flood cannot grow it
-- without bound.
CREATE TABLE minke_audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    address TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    bucket TEXT UNIQUE
);
CREATE INDEX minke_audit_at ON minke_audit (at);
CREATE INDEX minke_audit_actor ON minke_audit (actor, id);
CREATE INDEX minke_audit_action ON minke_audit (action, id);
