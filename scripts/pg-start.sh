#!/usr/bin/env bash
# Starts the machine's PostgreSQL 15 cluster for Minke's tests, idempotently, and lets
# the local user (root in CI) connect over the local socket as `postgres`.
# Prints the database URL the tests use.
set -euo pipefail

VERSION=${MINKE_PG_VERSION:-15}
CLUSTER=main
ETC=/etc/postgresql/$VERSION/$CLUSTER

if ! command -v pg_ctlcluster >/dev/null || [ ! -d "$ETC" ]; then
    echo "pg-start: installing postgresql-$VERSION" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "postgresql-$VERSION" >&2
fi

me=$(id -un)
# Map the local user to the postgres role for peer authentication on the socket.
if ! grep -q '^minke ' "$ETC/pg_ident.conf"; then
    printf 'minke %s postgres\nminke postgres postgres\n' "$me" >>"$ETC/pg_ident.conf"
fi
if ! grep -q 'map=minke' "$ETC/pg_hba.conf"; then
    sed -i 's/^local\(\s\+\)all\(\s\+\)postgres\(\s\+\)peer\s*$/local all postgres peer map=minke/' "$ETC/pg_hba.conf"
fi

if pg_ctlcluster "$VERSION" "$CLUSTER" status >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" reload >&2
else
    pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$CLUSTER" start >&2
fi

for _ in $(seq 1 60); do
    if pg_isready -q -h /var/run/postgresql; then
        break
    fi
    sleep 0.5
done
pg_isready -h /var/run/postgresql >&2

psql -h /var/run/postgresql -U postgres -d postgres -Atc 'select 1' >/dev/null
echo "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/postgres"
