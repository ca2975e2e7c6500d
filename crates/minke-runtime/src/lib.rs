//! Minke's engine: runs a session on a selection of objects, concurrently over hosts,
//! one after another per host, over one reused SSH connection per host, with timeouts,
//! cancellation, live events and the full history in the store.

mod changes;
mod check;
mod command_record;
mod config;
mod connect;
mod edit;
mod engine;
mod error;
mod events;
mod execute;
mod executor;
mod follow;
mod hold;
mod models;
mod notify;
mod outcome;
mod output_tail;
mod permissions;
mod plan;
mod pool;
mod record;
mod rerun;
mod run;
mod schedule;
mod secrets;
mod setup;
mod stop;
mod transfer;
mod transport;
mod worker;

pub use check::{CHECK_SESSION, CheckOutcome, CheckReport, CheckRequest, HostCheck};
pub use config::{Config, DEFAULT_KEEP_CONNECTIONS};
pub use edit::{Deletion, Dependents, SHOWN_DEPENDENTS};
pub use engine::Engine;
pub use error::{Error, Result};
pub use events::{Event, OutputStream, RunObserver};
pub use models::{HostSource, ModelEntry, Models};
pub use permissions::{GROUP, ModelAction, Permission, PermissionGroup, Subject};
pub use rerun::{EndedAs, rerun_of};
pub use run::{RunHandle, RunRequest, RunSummary, SessionSummary, Submitted};
pub use setup::Setup;
pub use stop::{Canceller, Stop, StopRequest};
pub use transport::{Link, MockTransport, SshTransport, Transport};
pub use worker::{DEFAULT_GRACE, DEFAULT_LEASE, Worker, WorkerConfig, WorkerReport};
