//! What the audit log records: who did what, when, through which door.

use crate::status::string_enum;

string_enum! {
    /// A kind of entry of the audit log.
    ///
    /// ```
    /// use minke_core::AuditAction;
    /// assert_eq!("login_failed".parse::<AuditAction>().unwrap(), AuditAction::LoginFailed);
    /// assert_eq!(AuditAction::RunStarted.to_string(), "run_started");
    /// ```
    AuditAction {
        /// A user logged in to the admin.
        Login = "login",
        /// Logins that failed, one entry per user name, address and minute.
        LoginFailed = "login_failed",
        /// A user logged out.
        Logout = "logout",
        /// A user was added.
        UserAdded = "user_added",
        /// A user was removed.
        UserRemoved = "user_removed",
        /// A user was disabled: no logins, tokens refused.
        UserDisabled = "user_disabled",
        /// A disabled user was enabled again.
        UserEnabled = "user_enabled",
        /// A user's password was set.
        PasswordSet = "password_set",
        /// A permission was granted.
        PermissionGranted = "permission_granted",
        /// A permission was revoked.
        PermissionRevoked = "permission_revoked",
        /// An API token was created.
        TokenCreated = "token_created",
        /// An API token was revoked.
        TokenRevoked = "token_revoked",
        /// A host was added.
        HostAdded = "host_added",
        /// A host was changed.
        HostChanged = "host_changed",
        /// A host was disabled or enabled.
        HostDisabled = "host_disabled",
        /// A host group was added, changed or deleted.
        GroupChanged = "group_changed",
        /// An object of an app's model was added.
        ObjectAdded = "object_added",
        /// An object of an app's model was changed.
        ObjectChanged = "object_changed",
        /// An object of an app's model was deleted.
        ObjectDeleted = "object_deleted",
        /// A run was started.
        RunStarted = "run_started",
        /// A run was asked to stop.
        RunStopped = "run_stopped",
        /// Old history was deleted.
        HistoryCleared = "history_cleared",
    }
}

impl AuditAction {
    /// A short phrase for people: `failed login`, `run started`.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::LoginFailed => "failed login",
            AuditAction::Logout => "logout",
            AuditAction::UserAdded => "user added",
            AuditAction::UserRemoved => "user removed",
            AuditAction::UserDisabled => "user disabled",
            AuditAction::UserEnabled => "user enabled",
            AuditAction::PasswordSet => "password set",
            AuditAction::PermissionGranted => "permission granted",
            AuditAction::PermissionRevoked => "permission revoked",
            AuditAction::TokenCreated => "API token created",
            AuditAction::TokenRevoked => "API token revoked",
            AuditAction::HostAdded => "host added",
            AuditAction::HostChanged => "host changed",
            AuditAction::HostDisabled => "host disabled or enabled",
            AuditAction::GroupChanged => "group changed",
            AuditAction::ObjectAdded => "object added",
            AuditAction::ObjectChanged => "object changed",
            AuditAction::ObjectDeleted => "object deleted",
            AuditAction::RunStarted => "run started",
            AuditAction::RunStopped => "run stopped",
            AuditAction::HistoryCleared => "history cleared",
        }
    }
}

string_enum! {
    /// Through which door an audited action came.
    Via {
        /// The web admin's pages.
        Web = "web",
        /// The JSON API.
        Api = "api",
        /// The command line.
        Cli = "cli",
    }
}
