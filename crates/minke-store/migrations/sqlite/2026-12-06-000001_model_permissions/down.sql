DELETE FROM minke_user_permissions
WHERE permission IN ('add_host', 'delete_host', 'add_group', 'change_group', 'delete_group');
