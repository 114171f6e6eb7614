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
source scripts/chaos_cluster.sh

log "building release binaries"
cargo build --release -p orderflow-api -p orderflow-worker -p orderflow-chaos

exec target/release/orderflow-chaos "$@"
