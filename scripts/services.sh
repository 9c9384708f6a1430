#!/usr/bin/env bash
# Makes sure the services the test suite talks to are running: PostgreSQL on
# 127.0.0.1:5432 with trust auth for the `postgres` user, and Redis on
# 127.0.0.1:6379 (the cluster tests also start private redis-servers, so the
# binary must be there). Starts a stopped one; installs from Debian what is missing.
set -euo pipefail

say() { printf '\033[1mservices:\033[0m %s\n' "$*"; }
SUDO=""; [[ $(id -u) != 0 ]] && SUDO=sudo

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! postgres_up; then
  if ! command -v pg_ctlcluster >/dev/null; then
    say "installing PostgreSQL from Debian"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    # Tests connect as `postgres` over loopback without a password.
    hba=/etc/postgresql/$version/main/pg_hba.conf
    $SUDO sed -i -E 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  say "starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do postgres_up && break; sleep 1; done
fi
postgres_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null \
  || { echo "services: cannot log in to PostgreSQL as postgres over 127.0.0.1" >&2; exit 1; }
say "PostgreSQL ready"

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  say "installing Redis from Debian"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server
fi
if ! redis_up; then
  say "starting Redis"
  # Nothing kept on disk: the tests need a live Redis, not a durable one.
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
  for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
fi
redis_up || { echo "services: Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
say "Redis ready"
