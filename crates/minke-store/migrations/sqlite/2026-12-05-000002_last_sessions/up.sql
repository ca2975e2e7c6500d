-- The latest session of each object and its status, kept by triggers wherever a
-- session is recorded or ends: a changelist shows and filters its objects by it
-- without looking through their whole history.
CREATE TABLE minke_last_sessions (
    model TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    session_id BIGINT NOT NULL,
    status TEXT,
    PRIMARY KEY (model, object_id)
) WITHOUT ROWID;
CREATE INDEX minke_last_sessions_status ON minke_last_sessions (model, status, object_id);

INSERT INTO minke_last_sessions (model, object_id, session_id, status)
SELECT s.model, s.object_id, s.id, s.status
FROM minke_sessions s
JOIN (SELECT max(id) AS id FROM minke_sessions GROUP BY model, object_id) latest ON latest.id = s.id;

-- Session ids only grow, so a new session is its object's latest.
CREATE TRIGGER minke_last_sessions_insert AFTER INSERT ON minke_sessions
BEGIN
    INSERT OR REPLACE INTO minke_last_sessions (model, object_id, session_id, status)
    VALUES (NEW.model, NEW.object_id, NEW.id, NEW.status);
END;

CREATE TRIGGER minke_last_sessions_update AFTER UPDATE OF status ON minke_sessions
WHEN NEW.status IS NOT OLD.status
BEGIN
    UPDATE minke_last_sessions SET status = NEW.status
    WHERE model = NEW.model AND object_id = NEW.object_id AND session_id = NEW.id;
END;
