#!/usr/bin/env bash
# Sourced by chaos.sh and soak.sh: Redis and PostgreSQL installed, and a PostgreSQL cluster of
# their own (`faults`, port 55432 unless CHAOS_PG_PORT says otherwise) created and started,
# so that restarting it never touches the shared one. Exports CHAOS_PG_BASE and
# CHAOS_PG_CLUSTER for the engine. Idempotent.
source scripts/services.sh

command -v redis-server >/dev/null || apt_install redis-server
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || apt_install postgresql

# The cluster the faults stop and start: its own port, trust on loopback.
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
export CHAOS_PG_BASE="postgres://postgres@127.0.0.1:${CHAOS_PG_PORT}"
export CHAOS_PG_CLUSTER="$PG_VERSION faults"
