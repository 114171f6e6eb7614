#!/usr/bin/env bash
# Runs every test against real PostgreSQL and Redis (started if needed), after checking that
# the migrations go up, down and up again, the deployment and monitoring files, and the API
# against its OpenAPI document (schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh
ensure_services

export TEST_PG_BASE_URL="${TEST_PG_BASE_URL:-postgres://postgres:postgres@127.0.0.1:${PG_PORT}}"
export TEST_REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:${REDIS_PORT}}"

log "building"
cargo build --workspace --all-targets

scratch="orderflow_migrations_check"
export APP_ENV=test
log "migrations: up, down, up (on a fresh scratch database)"
DATABASE_URL="$TEST_PG_BASE_URL/$scratch" ./target/debug/orderflow-api db drop
DATABASE_URL="$TEST_PG_BASE_URL/$scratch" ./target/debug/orderflow-api migrate
DATABASE_URL="$TEST_PG_BASE_URL/$scratch" ./target/debug/orderflow-api migrate down
DATABASE_URL="$TEST_PG_BASE_URL/$scratch" ./target/debug/orderflow-api migrate

DATABASE_URL="$TEST_PG_BASE_URL/$scratch" ./target/debug/orderflow-api db drop

log "deployment files: Kubernetes schemas, docker-compose config, lint"
scripts/check-deploy.sh

log "monitoring files: promtool, rule unit tests, dashboard lint"
scripts/check-monitoring.sh

log "API conformance: schemathesis, raised and default rate limits (bounded, fixed seed)"
scripts/schemathesis.sh --quick
scripts/schemathesis.sh --quick --default-limits

log "running tests"
if [[ $# -gt 0 ]]; then
    cargo test --workspace "$@"
else
    cargo test --workspace -- --skip scale_out::
    log "scale-out: 2 API instances and 3 workers on one PostgreSQL and Redis (figures below)"
    cargo test -p orderflow-worker --test jobs scale_out:: -- --nocapture
fi
