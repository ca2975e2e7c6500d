-- Triggers that keep an object's latest-session row only while the object exists, so
-- that counting the objects whose last session ended one way reads the latest
-- sessions alone. Each model's table gets them when the app opens its database to
-- write (`keep_last_sessions_exact`); the model's name and its key column are the
-- triggers' arguments.
CREATE FUNCTION minke_forget_last_session() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_id BIGINT;
    new_id BIGINT;
BEGIN
    EXECUTE format('SELECT ($1).%I', TG_ARGV[1]) USING OLD INTO old_id;
    IF TG_OP = 'UPDATE' THEN
        EXECUTE format('SELECT ($1).%I', TG_ARGV[1]) USING NEW INTO new_id;
        IF new_id = old_id THEN
            RETURN NULL;
        END IF;
    END IF;
    DELETE FROM minke_last_sessions WHERE model = TG_ARGV[0] AND object_id = old_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION minke_forget_last_sessions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM minke_last_sessions WHERE model = TG_ARGV[0];
    RETURN NULL;
END
$$;
