-- The latest session of each object and its status, kept by triggers wherever a
-- session is recorded or ends: a changelist shows and filters its objects by it
-- without looking through their whole history.
CREATE TABLE minke_last_sessions (
    model TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    session_id BIGINT NOT NULL,
    status TEXT,
    PRIMARY KEY (model, object_id)
);
CREATE INDEX minke_last_sessions_status ON minke_last_sessions (model, status, object_id);

INSERT INTO minke_last_sessions (model, object_id, session_id, status)
SELECT DISTINCT ON (model, object_id) model, object_id, id, status
FROM minke_sessions
ORDER BY model, object_id, id DESC;

-- Ids come from a sequence, so transactions may commit them out of order: the
-- higher id wins.
CREATE FUNCTION minke_last_sessions_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO minke_last_sessions (model, object_id, session_id, status)
        VALUES (NEW.model, NEW.object_id, NEW.id, NEW.status)
        ON CONFLICT (model, object_id) DO UPDATE
            SET session_id = EXCLUDED.session_id, status = EXCLUDED.status
            WHERE minke_last_sessions.session_id < EXCLUDED.session_id;
    ELSE
        UPDATE minke_last_sessions SET status = NEW.status
        WHERE model = NEW.model AND object_id = NEW.object_id AND session_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER minke_last_sessions_insert AFTER INSERT ON minke_sessions
    FOR EACH ROW EXECUTE FUNCTION minke_last_sessions_track();
CREATE TRIGGER minke_last_sessions_update AFTER UPDATE OF status ON minke_sessions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION minke_last_sessions_track();
