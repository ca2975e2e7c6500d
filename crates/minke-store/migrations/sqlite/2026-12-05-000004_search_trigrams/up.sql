-- PostgreSQL gets trigram indexes for searches here; SQLite scans (see the docs).
SELECT 1;
