-- Hosts and groups get add, change and delete permissions as every model does:
-- whoever could change hosts (and groups) may now add, change and delete both.
INSERT INTO minke_user_permissions (user_id, permission)
SELECT held.user_id, granted.name
FROM minke_user_permissions held
CROSS JOIN (
    VALUES ('add_host'), ('delete_host'), ('add_group'), ('change_group'), ('delete_group')
) AS granted (name)
WHERE held.permission = 'change_host'
ON CONFLICT DO NOTHING;
