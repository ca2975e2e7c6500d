DROP INDEX minke_work_items_open;
DROP INDEX minke_sessions_open;
