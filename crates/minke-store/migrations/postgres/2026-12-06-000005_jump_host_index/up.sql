-- Deleting a host looks for the hosts that use it as their jump host.
CREATE INDEX minke_hosts_jump ON minke_hosts (jump_host_id);
