DROP TRIGGER minke_hosts_search_update;
DROP TRIGGER minke_hosts_search_delete;
DROP TRIGGER minke_hosts_search_insert;
DROP TABLE minke_hosts_search;
