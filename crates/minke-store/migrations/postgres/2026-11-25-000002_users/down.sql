DROP TABLE minke_api_tokens;
DROP TABLE minke_web_sessions;
DROP TABLE minke_user_permissions;
DROP TABLE minke_users;
