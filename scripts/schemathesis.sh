#!/usr/bin/env bash
# Property-based API conformance with schemathesis (PyPI, 4.x) against a real API process on
# loopback, its own database and Redis namespace, as the admin: every check (status codes,
# schemas, headers, negative/positive data, auth, use-after-free, … — all are on by default;
# schemathesis.toml says where and why an expectation differs) and every phase (examples,
# coverage, fuzzing, stateful: the stateful phase follows the spec's OpenAPI links — create
# an order, then read, patch, transition and delete it). Exits non-zero on any failure.
#
#   scripts/schemathesis.sh            the longer run (200 examples per operation)
#   scripts/schemathesis.sh --quick    the bounded run scripts/test.sh makes (fixed seed)
#   --default-limits                   keep the default rate limits (429s are expected and
#                                      documented); otherwise the limits are raised
#   SCHEMATHESIS_SEED=…, SCHEMATHESIS_EXAMPLES=…   override the seed / examples per operation
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

ST_VERSION="4.32.5"
quick="" limits="raised"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --default-limits) limits="default" ;;
        *) die "unknown option $1" ;;
    esac
    shift
done
examples="${SCHEMATHESIS_EXAMPLES:-$([ -n "$quick" ] && echo 15 || echo 200)}"
seed="${SCHEMATHESIS_SEED:-20261125}"

export PATH="$HOME/.local/bin:$PATH"
if ! st --version 2>/dev/null | grep -q "$ST_VERSION"; then
    log "installing schemathesis $ST_VERSION (PyPI)"
    python3 -m pip install --quiet --user "schemathesis==$ST_VERSION" 2>/dev/null \
        || python3 -m pip install --quiet --user --break-system-packages "schemathesis==$ST_VERSION"
fi
command -v curl >/dev/null || apt_install curl

ensure_services
PG_BASE="${TEST_PG_BASE_URL:-postgres://postgres:postgres@127.0.0.1:${PG_PORT}}"
[ -x target/debug/orderflow-api ] || cargo build -p orderflow-api
api_bin=target/debug/orderflow-api

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
metrics_port=$(free_port)
run_id="st_$$_$RANDOM"
out=".run/schemathesis"
mkdir -p "$out"

export APP_ENV=test APP_HOST=127.0.0.1 APP_PORT="$port" API_METRICS_PORT="$metrics_port"
export DATABASE_URL="$PG_BASE/orderflow_$run_id"
export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:${REDIS_PORT}}"
export REDIS_KEY_PREFIX="orderflow-$run_id"
export FIRST_ADMIN_EMAIL="admin@schemathesis.test" FIRST_ADMIN_PASSWORD="schemathesis-admin-pw"
export ACCESS_TOKEN_TTL_SECONDS=7200 RUST_LOG="${RUST_LOG:-warn}" LOG_FORMAT=json
if [ "$limits" = raised ]; then
    for class in AUTH API USER_WRITE USER_READ; do
        export "${class}_RATE_LIMIT_BURST=1000000" "${class}_RATE_LIMIT_REPLENISH_MS=1"
    done
    export LOGIN_LOCKOUT_THRESHOLD=1000000
fi

"$api_bin" serve >"$out/api-$limits.log" 2>&1 &
api=$!
cleanup() {
    kill -TERM "$api" 2>/dev/null || true
    wait "$api" 2>/dev/null || true
    "$api_bin" db drop >/dev/null 2>&1 || true
    redis-cli -p "$REDIS_PORT" --scan --pattern "$REDIS_KEY_PREFIX*" 2>/dev/null \
        | xargs -r redis-cli -p "$REDIS_PORT" del >/dev/null 2>&1 || true
}
trap cleanup EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -fsS "$base/ready" >/dev/null 2>&1 && break
    kill -0 "$api" 2>/dev/null || { cat "$out/api-$limits.log" >&2; die "the API exited"; }
    sleep 0.2
done
token=$(curl -fsS "$base/api/v1/auth/login" \
    --data-urlencode "username=$FIRST_ADMIN_EMAIL" --data-urlencode "password=$FIRST_ADMIN_PASSWORD" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# Customers and products 1..3 (schemathesis.toml points order bodies at them).
for i in 1 2 3; do
    curl -fsS -o /dev/null "$base/api/v1/customers" -H "Authorization: Bearer $token" \
        -H 'content-type: application/json' \
        -d "{\"name\":\"Seed $i\",\"email\":\"seed$i@schemathesis.test\"}"
    curl -fsS -o /dev/null "$base/api/v1/products" -H "Authorization: Bearer $token" \
        -H 'content-type: application/json' \
        -d "{\"sku\":\"SEED-$i\",\"name\":\"Seed $i\",\"price\":\"1$i.50\"}"
done

log "schemathesis: all checks, all phases, $examples examples per operation, seed $seed, limits $limits"
status=0
st --config-file schemathesis.toml run "$base/openapi.json" \
    -H "Authorization: Bearer $token" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$examples" \
    --seed "$seed" \
    --workers 1 \
    --generation-database none \
    --request-timeout 10 \
    --no-color \
    --report junit --report-junit-path "$out/junit-$limits.xml" \
    || status=$?
if grep -q '"level":"ERROR"' "$out/api-$limits.log"; then
    log "the API logged errors during the run:"
    grep '"level":"ERROR"' "$out/api-$limits.log" | head -20 >&2
    status=1
fi
exit "$status"
