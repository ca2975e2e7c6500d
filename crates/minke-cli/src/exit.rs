//! Exit codes: how a run went, or why nothing ran.

/// Every session completed with success.
pub const SUCCESS: u8 = 0;
/// Minke itself could not work (database unreachable, setup broken).
pub const INTERNAL: u8 = 1;
/// The command line was wrong.
pub const USAGE: u8 = 2;
/// The worst session ended with a warning.
pub const WARNING: u8 = 3;
/// A session ended with an error, failed, was stopped or canceled.
pub const ERROR: u8 = 4;
