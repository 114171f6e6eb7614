#!/usr/bin/env bash
# Runs OrderFlow locally: dependencies, database, migrations, first admin, API and worker.
# Ctrl-C stops both processes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

[ -f .env ] || { cp .env.example .env; log "created .env from .env.example"; }
set -a; source .env; set +a

ensure_services

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
log "API on http://${APP_HOST:-127.0.0.1}:${APP_PORT:-8000} (docs at /docs, /redoc)"
wait -n $api
