#!/usr/bin/env bash
# The soak: OrderFlow's release binaries (2 API instances, 3 workers) with a PostgreSQL
# cluster, a Redis server and an SMTP server of their own, under a steady mixed load for N
# minutes while a worker and an API instance are SIGKILLed, Redis and PostgreSQL restarted and
# SMTP refuses for a minute, on a schedule. Checks every minute and at the end (lost or
# duplicate orders and emails, sessions idle in a transaction, memory and descriptors,
# unexplained 5xx); writes target/soak/report.md; exits non-zero on any failure.
#   scripts/soak.sh                 # the hour
#   scripts/soak.sh --minutes 5     # a quick look
# Needs root the first time (Debian packages, and `pg_createcluster` for the cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chaos_cluster.sh

log "building release binaries"
cargo build --release -p orderflow-api -p orderflow-worker -p orderflow-chaos

exec target/release/orderflow-soak "$@"
