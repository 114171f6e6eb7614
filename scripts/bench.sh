#!/usr/bin/env bash
# The benchmark command: builds release binaries, makes sure PostgreSQL and Redis run and wrk
# is installed, then runs OrderFlow's API and worker under load beside pgbench running the
# same SQL, and prints the table (also written to target/bench/table.md and summary.json).
#   scripts/bench.sh            # the full run (~10 minutes on 2 cores)
#   scripts/bench.sh --quick    # short runs on a smaller data set (~2 minutes)
#   scripts/bench.sh --only read,create --duration 10
# Not part of the test command: figures are only comparable within one run on one machine.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
ensure_services
command -v wrk >/dev/null || apt_install wrk
command -v pgbench >/dev/null || apt_install postgresql-client

export TEST_PG_BASE_URL="${TEST_PG_BASE_URL:-postgres://postgres:postgres@127.0.0.1:${PG_PORT}}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:${REDIS_PORT}}"

log "building release binaries"
cargo build --release --workspace --bins
exec target/release/orderflow-bench "$@"
