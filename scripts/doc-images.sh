#!/usr/bin/env bash
# Refreshes the screenshots in docs/images/ by running the admin's browser test with
# MINKE_DOC_IMAGES pointing there (a plain test run writes them to a scratch folder).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
MINKE_DOC_IMAGES="$PWD/docs/images" cargo test -p fleet --test admin_e2e --locked -- --nocapture
echo "docs/images/ refreshed; review with git diff --stat docs/images"
