DROP INDEX IF EXISTS minke_hosts_comment_trgm;
DROP INDEX IF EXISTS minke_hosts_hostname_trgm;
DROP INDEX IF EXISTS minke_hosts_name_trgm;
