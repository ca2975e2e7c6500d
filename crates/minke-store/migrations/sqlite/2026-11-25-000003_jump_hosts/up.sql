ALTER TABLE minke_hosts ADD COLUMN jump_host_id BIGINT REFERENCES minke_hosts (id) ON DELETE SET NULL;
