//! The README and the guides in `docs/` as doctests: `cargo test --doc` compiles
//! every Rust code block of them (and runs those not marked `no_run`), so that they
//! stay true to the API. Blocks in other languages are labelled (`sh`, `toml`, `text`)
//! and left alone.

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct Readme;

#[cfg(doctest)]
#[doc = include_str!("../docs/getting-started.md")]
pub struct GettingStarted;

#[cfg(doctest)]
#[doc = include_str!("../docs/concepts.md")]
pub struct Concepts;

#[cfg(doctest)]
#[doc = include_str!("../docs/cli.md")]
pub struct Cli;

#[cfg(doctest)]
#[doc = include_str!("../docs/ssh.md")]
pub struct Ssh;

#[cfg(doctest)]
#[doc = include_str!("../docs/admin.md")]
pub struct Admin;

#[cfg(doctest)]
#[doc = include_str!("../docs/security.md")]
pub struct Security;

#[cfg(doctest)]
#[doc = include_str!("../docs/deployment.md")]
pub struct Deployment;

#[cfg(doctest)]
#[doc = include_str!("../docs/performance.md")]
pub struct Performance;
