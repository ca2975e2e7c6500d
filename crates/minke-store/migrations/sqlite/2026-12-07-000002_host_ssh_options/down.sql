ALTER TABLE minke_hosts DROP COLUMN options;
ALTER TABLE minke_hosts DROP COLUMN jump_only;
ALTER TABLE minke_hosts ADD COLUMN identity_file TEXT;
UPDATE minke_hosts SET identity_file = substr(identity_files, 1, instr(identity_files || char(10), char(10)) - 1)
    WHERE identity_files <> '';
ALTER TABLE minke_hosts DROP COLUMN identity_files;
