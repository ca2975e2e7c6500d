ALTER TABLE minke_api_tokens ADD COLUMN expires_at BIGINT;
