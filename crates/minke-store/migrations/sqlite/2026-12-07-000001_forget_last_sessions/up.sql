-- SQLite's triggers cannot take arguments: each model's table gets its own, written
-- when the app opens its database to write (`keep_last_sessions_exact`). Nothing to
-- create here; the migration keeps both dialects' lists alike.
SELECT 1;
