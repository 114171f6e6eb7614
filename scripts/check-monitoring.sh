#!/usr/bin/env bash
# Checks the monitoring files offline (called by scripts/test.sh; installs Prometheus, the
# Debian package, when missing): the Prometheus config and alert rules with promtool, the
# rules' unit tests (prometheus/alerts.test.yml: each alert firing and not firing), and the
# Grafana dashboards with scripts/lint_dashboards.py (and its self-test). That every query
# returns data from the real binaries is checked by cargo test (worker/tests/jobs/monitoring.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

command -v promtool >/dev/null && command -v prometheus >/dev/null || apt_install prometheus

log "promtool: config, rules, rule unit tests"
promtool check config prometheus/prometheus.yml
promtool check rules prometheus/alerts.yml
promtool test rules prometheus/alerts.test.yml

log "dashboards: lint (and its self-test: each rule must catch a broken copy)"
python3 scripts/lint_dashboards.py
