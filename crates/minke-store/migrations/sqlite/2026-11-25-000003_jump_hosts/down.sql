ALTER TABLE minke_hosts DROP COLUMN jump_host_id;
