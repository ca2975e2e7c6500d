DROP FUNCTION minke_forget_last_sessions() CASCADE;
DROP FUNCTION minke_forget_last_session() CASCADE;
