#!/usr/bin/env bash
# The fault script: OrderFlow's release binaries on loopback with a PostgreSQL cluster, a
# Redis server and an SMTP server of their own (the shared ones are never touched), one
# fault at a time; prints a table of figures (also target/chaos/report.md) and exits
# non-zero when any expectation fails. docs/reliability.md explains each row.
#   scripts/chaos.sh                          # every fault (~12 minutes; SMTP down 5 minutes)
#   scripts/chaos.sh --only kill,races        # some of them
#   scripts/chaos.sh --smtp-down 60 --orders 2000
# Needs root the first time (Debian packages, and `pg_createcluster` for the cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

command -v redis-server >/dev/null || apt_install redis-server
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || apt_install postgresql

# The cluster the PostgreSQL fault stops and starts: its own port, trust on loopback.
PG_VERSION=$(ls /etc/postgresql | sort -V | tail -n 1)
CHAOS_PG_PORT="${CHAOS_PG_PORT:-55432}"
if ! pg_lsclusters -h | awk '{print $2}' | grep -qx faults; then
    log "creating PostgreSQL cluster $PG_VERSION/faults on port $CHAOS_PG_PORT"
    pg_createcluster "$PG_VERSION" faults --port "$CHAOS_PG_PORT" -- \
        --auth-host=trust --auth-local=trust >/dev/null
fi
if ! pg_lsclusters -h | awk '$2 == "faults" {print $4}' | grep -qx online; then
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" faults start
fi
CHAOS_PG_PORT=$(pg_lsclusters -h | awk '$2 == "faults" {print $3}')

log "building release binaries"
cargo build --release -p orderflow-api -p orderflow-worker -p orderflow-chaos

export CHAOS_PG_BASE="postgres://postgres@127.0.0.1:${CHAOS_PG_PORT}"
export CHAOS_PG_CLUSTER="$PG_VERSION faults"
exec target/release/orderflow-chaos "$@"
