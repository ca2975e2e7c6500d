-- Hosts and groups get add, change and delete permissions as every model does:
-- whoever could change hosts (and groups) may now add, change and delete both.
INSERT OR IGNORE INTO minke_user_permissions (user_id, permission)
SELECT held.user_id, granted.name
FROM minke_user_permissions held
CROSS JOIN (
    SELECT 'add_host' AS name
    UNION ALL SELECT 'delete_host'
    UNION ALL SELECT 'add_group'
    UNION ALL SELECT 'change_group'
    UNION ALL SELECT 'delete_group'
) granted
WHERE held.permission = 'change_host';
