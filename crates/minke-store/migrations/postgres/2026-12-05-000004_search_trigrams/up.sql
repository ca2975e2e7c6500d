-- "Contains" searches of the hosts (name, address, comment) through trigram
-- indexes, when the pg_trgm extension can be had (it ships with PostgreSQL and is
-- trusted: a database owner may create it). Without it, searches scan the table,
-- as they do on SQLite.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm is not available (%): searches of hosts scan the table', SQLERRM;
END
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX minke_hosts_name_trgm ON minke_hosts USING gin (name gin_trgm_ops);
        CREATE INDEX minke_hosts_hostname_trgm ON minke_hosts USING gin (hostname gin_trgm_ops);
        CREATE INDEX minke_hosts_comment_trgm ON minke_hosts USING gin (comment gin_trgm_ops);
    END IF;
END
$$;
