//! The core of [Minke](https://docs.rs/minke): traits and types shared by every part.
//!
//! Users depend on the `minke` facade, which re-exports everything here. The three
//! concepts:
//!
//! - a [`Host`] is everything needed to open an SSH connection;
//! - a [`MinkeModel`] is an object sessions work on, reaching exactly one host;
//! - a [`Session`] is remote work for one object, written against a [`Context`].
//!
//! ```
//! use minke_core::{Status, shell_quote};
//! assert_eq!(Status::Success.max(Status::Warning), Status::Warning);
//! assert_eq!(shell_quote("a b"), "'a b'");
//! ```

mod audit;
mod command;
mod context;
mod error;
mod host;
mod ids;
mod lines;
mod message;
mod model;
mod registry;
pub mod sealed;
mod session;
mod status;
pub mod time;
mod transfer;
mod value;

pub use audit::{AuditAction, Via};
pub use command::{CommandOutput, ExitStatus};
pub use context::{
    Context, ExecRequest, Executor, GET_LIMIT, Sudo, fill_template, format_template,
};
pub use error::{Error, Result, SealError};
pub use host::{Host, HostKeyPolicy, HostTarget, Keepalive, local_user};
pub use ids::{HostId, RunId, SessionId, UserId, WorkItemId};
pub use lines::Lines;
pub use message::{Message, MessageBody};
pub use model::{FieldMeta, MinkeModel, ModelMeta, ModelObject, References, plural_of};
pub use registry::{Registry, SessionEntry};
pub use sealed::SecretKey;
pub use session::{BoxFuture, DynSession, ParamSpec, Params, Session, SessionInfo, SessionMeta};
pub use status::{FailReason, MessageLevel, RunState, State, Status};
pub use transfer::{Download, Transfer, TransferRequest, Upload};
pub use value::{FieldType, Secret, Value, shell_quote};

pub use async_trait::async_trait;
