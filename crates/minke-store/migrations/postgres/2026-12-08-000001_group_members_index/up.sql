-- A group's members in order of host id: a page of a big group, its count and its
-- emptying read this index, never every membership (the primary key starts with
-- the host).
CREATE INDEX minke_host_group_members_group ON minke_host_group_members (group_id, host_id);
