-- PostgreSQL searches hosts through pg_trgm's indexes (2026-12-05-000004).
SELECT 1;
