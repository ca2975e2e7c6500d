//! The admin's router, driven with `tower::ServiceExt::oneshot`: every page and API
//! endpoint, logins, CSRF, permissions, bad queries; real runs against sshd.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod api;
mod auth;
mod groups_scale;
mod hardening;
mod jump_hosts;
mod live;
mod models;
mod pages;
mod paging;
mod support;
mod users;
