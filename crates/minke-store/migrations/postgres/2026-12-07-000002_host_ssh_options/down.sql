ALTER TABLE minke_hosts DROP COLUMN options;
ALTER TABLE minke_hosts DROP COLUMN jump_only;
ALTER TABLE minke_hosts ADD COLUMN identity_file TEXT;
UPDATE minke_hosts SET identity_file = split_part(identity_files, E'\n', 1) WHERE identity_files <> '';
ALTER TABLE minke_hosts DROP COLUMN identity_files;
