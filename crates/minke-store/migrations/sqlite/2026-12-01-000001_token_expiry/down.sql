ALTER TABLE minke_api_tokens DROP COLUMN expires_at;
