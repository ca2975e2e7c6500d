-- Several identity files (one per line) instead of one; jump-only hosts (made by an
-- import for a ProxyJump that names no host of the file: listed, never a target);
-- the other OpenSSH options of a host, which lists never filter or sort by, in one
-- JSON column (certificates, proxy command, agent forwarding, environment, become
-- user, keepalives).
ALTER TABLE minke_hosts ADD COLUMN identity_files TEXT NOT NULL DEFAULT '';
UPDATE minke_hosts SET identity_files = identity_file WHERE identity_file IS NOT NULL;
ALTER TABLE minke_hosts DROP COLUMN identity_file;
ALTER TABLE minke_hosts ADD COLUMN jump_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE minke_hosts ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
