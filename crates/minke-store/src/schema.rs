//! The diesel schema of Minke's own tables (one schema for both backends).
#![allow(missing_docs)]

diesel::table! {
    minke_hosts (id) {
        id -> BigInt,
        name -> Text,
        hostname -> Nullable<Text>,
        port -> Integer,
        username -> Nullable<Text>,
        host_key_policy -> Text,
        known_hosts -> Nullable<Text>,
        disabled -> Bool,
        comment -> Nullable<Text>,
        jump_host_id -> Nullable<BigInt>,
        identity_files -> Text,
        jump_only -> Bool,
        options -> Text,
    }
}

diesel::table! {
    minke_host_groups (id) {
        id -> BigInt,
        name -> Text,
        comment -> Nullable<Text>,
    }
}

diesel::table! {
    minke_host_group_members (host_id, group_id) {
        host_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    minke_host_locks (host_id) {
        host_id -> BigInt,
        run_id -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    minke_runs (id) {
        id -> BigInt,
        session -> Text,
        model -> Text,
        username -> Text,
        params -> Text,
        selection -> Text,
        state -> Text,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        stop_requested -> Nullable<SmallInt>,
        sealed_params -> Nullable<Text>,
        concurrency -> Nullable<Integer>,
        counts -> Nullable<Text>,
    }
}

diesel::table! {
    minke_sessions (id) {
        id -> BigInt,
        run_id -> BigInt,
        session -> Text,
        model -> Text,
        object_id -> BigInt,
        object_label -> Text,
        host_id -> Nullable<BigInt>,
        host_name -> Nullable<Text>,
        state -> Text,
        status -> Nullable<Text>,
        reason -> Nullable<Text>,
        created_at -> BigInt,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    minke_commands (id) {
        id -> BigInt,
        session_id -> BigInt,
        seq -> Integer,
        command -> Text,
        exit_code -> Nullable<Integer>,
        exit_signal -> Nullable<Text>,
        stdout -> Binary,
        stderr -> Binary,
        stdout_len -> BigInt,
        stderr_len -> BigInt,
        stdout_truncated -> Bool,
        stderr_truncated -> Bool,
        started_at -> BigInt,
        duration_us -> BigInt,
    }
}

diesel::table! {
    minke_messages (id) {
        id -> BigInt,
        session_id -> BigInt,
        seq -> Integer,
        level -> Text,
        body -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    minke_work_items (id) {
        id -> BigInt,
        run_id -> BigInt,
        host_id -> BigInt,
        state -> Text,
        worker -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        attempts -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(minke_sessions -> minke_runs (run_id));
diesel::joinable!(minke_work_items -> minke_runs (run_id));
diesel::joinable!(minke_commands -> minke_sessions (session_id));
diesel::joinable!(minke_messages -> minke_sessions (session_id));
diesel::joinable!(minke_host_group_members -> minke_hosts (host_id));
diesel::joinable!(minke_host_group_members -> minke_host_groups (group_id));

diesel::allow_tables_to_appear_in_same_query!(
    minke_hosts,
    minke_host_groups,
    minke_host_group_members,
    minke_host_locks,
    minke_runs,
    minke_sessions,
    minke_commands,
    minke_messages,
    minke_work_items,
    minke_last_sessions,
);

diesel::table! {
    minke_app_migrations (name) {
        name -> Text,
        applied_at -> BigInt,
    }
}

diesel::table! {
    minke_users (id) {
        id -> BigInt,
        username -> Text,
        password_hash -> Text,
        is_superuser -> Bool,
        is_active -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    minke_user_permissions (user_id, permission) {
        user_id -> BigInt,
        permission -> Text,
    }
}

diesel::table! {
    minke_web_sessions (token_hash) {
        token_hash -> Text,
        user_id -> BigInt,
        csrf_token -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    minke_api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        expires_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(minke_user_permissions -> minke_users (user_id));
diesel::joinable!(minke_web_sessions -> minke_users (user_id));
diesel::joinable!(minke_api_tokens -> minke_users (user_id));
diesel::allow_tables_to_appear_in_same_query!(
    minke_users,
    minke_user_permissions,
    minke_web_sessions,
    minke_api_tokens
);

diesel::table! {
    minke_audit (id) {
        id -> BigInt,
        at -> BigInt,
        actor -> Text,
        via -> Text,
        address -> Nullable<Text>,
        action -> Text,
        target -> Text,
        detail -> Text,
        count -> Integer,
        bucket -> Nullable<Text>,
    }
}

diesel::table! {
    minke_last_sessions (model, object_id) {
        model -> Text,
        object_id -> BigInt,
        session_id -> BigInt,
        status -> Nullable<Text>,
    }
}
