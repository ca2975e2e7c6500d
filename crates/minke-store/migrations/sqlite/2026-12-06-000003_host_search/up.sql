-- Searching hosts for text anywhere in their name, address or comment looks in a
-- trigram index (FTS5) instead of reading every row; PostgreSQL has pg_trgm for it.
CREATE VIRTUAL TABLE minke_hosts_search USING fts5(
    name, hostname, comment,
    content = 'minke_hosts', content_rowid = 'id', tokenize = 'trigram'
);
INSERT INTO minke_hosts_search (minke_hosts_search) VALUES ('rebuild');
CREATE TRIGGER minke_hosts_search_insert AFTER INSERT ON minke_hosts BEGIN
    INSERT INTO minke_hosts_search (rowid, name, hostname, comment)
    VALUES (new.id, new.name, new.hostname, new.comment);
END;
CREATE TRIGGER minke_hosts_search_delete AFTER DELETE ON minke_hosts BEGIN
    INSERT INTO minke_hosts_search (minke_hosts_search, rowid, name, hostname, comment)
    VALUES ('delete', old.id, old.name, old.hostname, old.comment);
END;
CREATE TRIGGER minke_hosts_search_update AFTER UPDATE OF name, hostname, comment ON minke_hosts BEGIN
    INSERT INTO minke_hosts_search (minke_hosts_search, rowid, name, hostname, comment)
    VALUES ('delete', old.id, old.name, old.hostname, old.comment);
    INSERT INTO minke_hosts_search (rowid, name, hostname, comment)
    VALUES (new.id, new.name, new.hostname, new.comment);
END;
