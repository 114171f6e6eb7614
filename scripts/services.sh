#!/usr/bin/env bash
# Makes sure OrderFlow's dependencies answer on loopback: PostgreSQL (5432) and Redis (6379).
# With a working Docker engine it uses docker compose; otherwise it installs (Debian packages,
# as root) and starts them. Idempotent: running services are left alone.
# Sourced by run.sh and test.sh; can also be run on its own.
set -euo pipefail

PG_PORT="${PG_PORT:-5432}"
REDIS_PORT="${REDIS_PORT:-6379}"

log() { printf '\033[1;34m[services]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[services]\033[0m %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 0.5
  done
  die "$name did not start listening on 127.0.0.1:$port"
}

apt_updated=""
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "$* is missing: run this script as root (or: sudo apt-get install -y $*)"
  if [ -z "$apt_updated" ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

docker_engine() { command -v docker >/dev/null && docker info >/dev/null 2>&1; }

ensure_postgres() {
  port_open "$PG_PORT" && return 0
  if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
    apt_install postgresql
    fresh_install=1
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port "$PG_PORT" PostgreSQL
  if [ -n "${fresh_install:-}" ]; then
    # A fresh Debian cluster wants a password over TCP; OrderFlow's default URL uses postgres/postgres.
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  fi
}

ensure_redis() {
  port_open "$REDIS_PORT" && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/orderflow-redis.log
  wait_port "$REDIS_PORT" Redis
}

SMTP_CATCHER_PORT="${SMTP_CATCHER_PORT:-1025}"
SMTP_CATCHER_WEB_PORT="${SMTP_CATCHER_WEB_PORT:-1080}"
MAILDEV_VERSION="2.2.1"

# An SMTP server that keeps every message and shows it in a web UI, for local runs:
# Mailpit under Docker, otherwise MailDev from the npm registry (installed into .run/).
ensure_smtp_catcher() {
  port_open "$SMTP_CATCHER_PORT" && return 0
  if docker_engine; then
    docker compose up -d mailpit
  else
    command -v npm >/dev/null || apt_install nodejs npm
    local dir=.run/maildev
    if [ ! -x "$dir/node_modules/.bin/maildev" ]; then
      log "installing MailDev $MAILDEV_VERSION into $dir"
      mkdir -p "$dir"
      npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "maildev@$MAILDEV_VERSION" >/dev/null
    fi
    log "starting MailDev (SMTP :$SMTP_CATCHER_PORT, web UI :$SMTP_CATCHER_WEB_PORT)"
    nohup "$dir/node_modules/.bin/maildev" --ip 127.0.0.1 --smtp "$SMTP_CATCHER_PORT" \
      --web "$SMTP_CATCHER_WEB_PORT" >.run/maildev.log 2>&1 &
  fi
  wait_port "$SMTP_CATCHER_PORT" "the SMTP catcher"
  log "emails sent by OrderFlow appear at http://127.0.0.1:$SMTP_CATCHER_WEB_PORT"
}

ensure_services() {
  if ! port_open "$PG_PORT" || ! port_open "$REDIS_PORT"; then
    if docker_engine; then
      log "starting postgres and redis with docker compose"
      docker compose up -d postgres redis
      wait_port "$PG_PORT" PostgreSQL
      wait_port "$REDIS_PORT" Redis
      return 0
    fi
  fi
  ensure_postgres
  ensure_redis
  log "PostgreSQL on :$PG_PORT and Redis on :$REDIS_PORT are up"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cd "$(dirname "$0")/.."
  ensure_services
fi
