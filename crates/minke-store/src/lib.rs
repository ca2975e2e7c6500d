//! Minke's database layer: one diesel schema with embedded migrations for SQLite and
//! PostgreSQL (chosen at run time from the URL), the history of runs, sessions,
//! commands and messages, hosts, host locks, and retention.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> minke_store::Result<()> {
//! let store = minke_store::Store::open(":memory:").await?;
//! assert!(store.url().is_sqlite());
//! # Ok(()) }
//! ```

mod app_migrations;
mod audit;
mod conn;
mod edit;
mod error;
mod groups;
mod history;
mod host_import;
mod host_options;
mod hosts;
mod last_sessions;
mod listen;
mod lists;
mod model;
mod query;
mod queue;
mod rows;
mod run_counts;
pub mod schema;
mod schema_check;
mod store;
mod targets;
mod users;

pub use app_migrations::{AppMigration, apply_app_migrations};
pub use audit::*;
pub use conn::{Conn, DatabaseUrl, SqliteMode};
pub use edit::{
    FieldProblem, FieldValues, Writing, check_values, forget_last_sessions, invalid_unless_empty,
    value_from_text, value_of, write_error,
};
pub use error::{Error, Result};
pub use groups::*;
pub use history::*;
pub use host_import::import_hosts;
pub use hosts::{
    HostOptions, HostRecord, NewHost, all_hosts, check_host_name, environment_entry, host_named,
    insert_host, set_host_disabled, update_host, upsert_host,
};
pub use last_sessions::{count_by_last_status, keep_last_sessions_exact, last_sessions_exact};
pub use listen::{Listener, Listening, Notification, RUN_CHANNEL, notify_runs};
pub use lists::*;
pub use model::{
    AsId, LastStatusIs, StoredModel, TRIGRAM, TextIndexHas, check_query, condition_value,
    field_type_matches_its_column, key_from_id, last_status_is, like_pattern, require_host,
    text_index_has, trigram_searchable,
};
pub use query::{
    Condition, IDS_PER_QUERY, MAX_FILTER_LEN, MAX_FILTER_TERMS, Op, Order, Query, count_in_chunks,
    load_in_chunks,
};
pub use queue::{
    CANCELED_IN_QUEUE, HandedBack, HandedBackRest, ItemEnd, LostItem, QueueWorker, REAPER_LOCK_KEY,
    Reaped, WORK_CHANNEL, WorkItem, WorkState, cancel_queued_work, database_now, enqueue_run,
    finish_run_if_complete, reap_expired, run_work_items, seal_run_params, sealed_run_params,
    set_run_concurrency, work_item, work_item_sessions,
};
pub use rows::{HistoryRow, SessionEnd};
pub use run_counts::{Counts, run_counts};
pub use store::{OpenMode, Store, migrate};
pub use targets::{
    Targets, group_id, narrow, narrow_to_group, narrow_to_last_status, no_groups,
    parse_last_status, take_targets,
};
pub use users::*;

#[doc(hidden)]
pub use diesel as __diesel;

/// Microseconds since the Unix epoch: how the store keeps time.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
