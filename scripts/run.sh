#!/usr/bin/env bash
# Runs OrderFlow locally: PostgreSQL, Redis and an SMTP catcher with a web UI, then the
# database, migrations, first admin, the API and the worker. Ctrl-C stops the API and the
# worker (the services keep running for next time).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

# The binaries read .env themselves (variables already set in the environment win).
[ -f .env ] || { cp .env.example .env; log "created .env from .env.example"; }

ensure_services
ensure_smtp_catcher

profile="${PROFILE:-debug}"
flag=""; [ "$profile" = release ] && flag="--release"
log "building ($profile)"
cargo build $flag --workspace --bins

bin="target/$profile"
"$bin/orderflow-api" migrate
"$bin/orderflow-api" create-admin || true

"$bin/orderflow-worker" &
worker=$!
"$bin/orderflow-api" serve &
api=$!
trap 'kill -TERM $api $worker 2>/dev/null; wait' INT TERM EXIT
log "API starting; see its log line for the address (docs at /docs and /redoc)"
wait -n $api
