#!/usr/bin/env bash
# The main job: builds the example app and runs `fleet demo` — a few throwaway
# OpenSSH servers on 127.0.0.1, sessions run on all of them concurrently, history
# persisted in ./minke-demo/minke.db.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh demo
cargo build --release --locked -p fleet
# Where cargo put it: ./target unless CARGO_TARGET_DIR says otherwise.
exec "${CARGO_TARGET_DIR:-target}/release/fleet" demo "$@"
