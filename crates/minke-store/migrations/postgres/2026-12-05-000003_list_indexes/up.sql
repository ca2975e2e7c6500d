-- The host changelist's columns in order either way, ties by id: a page of a
-- million hosts sorted by any of them is read from an index, never sorted whole.
CREATE INDEX minke_hosts_hostname ON minke_hosts (hostname, id);
CREATE INDEX minke_hosts_port ON minke_hosts (port, id);
CREATE INDEX minke_hosts_username ON minke_hosts (username, id);
CREATE INDEX minke_hosts_disabled ON minke_hosts (disabled, id);
