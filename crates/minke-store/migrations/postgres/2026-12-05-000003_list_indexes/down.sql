DROP INDEX minke_hosts_disabled;
DROP INDEX minke_hosts_username;
DROP INDEX minke_hosts_port;
DROP INDEX minke_hosts_hostname;
