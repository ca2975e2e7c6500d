//! History: the runs and sessions lists, a run's live page, a session's commands and
//! messages, output downloads, and stopping.

mod filters;
mod run;
mod runs;
mod session;
mod sessions;
mod stop;

pub(crate) use filters::run_filter;
pub(crate) use run::run;
pub(crate) use runs::{RunRow, runs};
pub(crate) use session::{download, session};
pub(crate) use sessions::sessions;
pub(crate) use stop::{run_events, stop, stop_run, stop_session};

/// Bytes of each output stream shown on a session page.
pub(crate) const PREVIEW: i64 = 64 * 1024;
