#!/usr/bin/env bash
# The test command: installs what the tests need, starts PostgreSQL, then runs
# rustfmt, clippy, every test (unit, integration against real sshd and PostgreSQL,
# trybuild, doctests) and builds the examples.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh test

MINKE_TEST_PG_URL=$(scripts/pg-start.sh)
export MINKE_TEST_PG_URL

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
scripts/package-check.sh

echo "== a program that only runs sessions builds without the command line and the admin"
# The facade's `cli` and `admin` features: without them, no web stack (axum), no
# clap. (argon2 stays: russh's key handling depends on it, not only the admin's
# password hashing.)
if cargo tree -p minke --no-default-features -e normal --locked | grep -E ' (axum|hyper|clap|minke-admin|minke-cli) v'; then
    echo "minke without default features still depends on the above" >&2
    exit 1
fi
cargo check -p minke --no-default-features --features bundled-libpq --locked
cargo check -p minke --no-default-features --features bundled-libpq,cli --locked

echo "== cargo build (examples included)"
cargo build --workspace --all-targets --locked

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast

echo "== the admin's and the engine's end-to-end tests again, on PostgreSQL"
# Selected by test name over the whole workspace (not -p), so that cargo reuses the
# build above instead of resolving features anew.
MINKE_ADMIN_TESTS_ON_PG=1 MINKE_E2E_ON_PG=1 \
    cargo test --workspace --locked --no-fail-fast --test admin --test engine
