DROP INDEX minke_hosts_jump;
