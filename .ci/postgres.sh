#!/usr/bin/env bash
# postgres.sh start [DIR] | stop [DIR]
#
# Starts a private PostgreSQL cluster on a free 127.0.0.1 port for the PostgreSQL state
# store tests (mailmigrate-core's `postgres` feature), with its data under DIR (default:
# /tmp/mailmigrate-postgres). Never touches the system's clusters or /etc.
#
#   start  installs what is missing (Debian's postgresql), runs initdb from
#          /usr/lib/postgresql/*/bin as the postgres user into DIR/data (trust
#          authentication: the cluster listens on 127.0.0.1 and a socket in DIR only),
#          starts it with pg_ctl, creates the role mmtest and its database mailmigrate_test,
#          and writes DIR/env with
#            MAILMIGRATE_TEST_POSTGRES_URL  (postgres://mmtest@127.0.0.1:PORT/mailmigrate_test)
#          `source DIR/env` before `cargo test`. Each test works in a schema of its own, so
#          tests run in parallel. A cluster already running from DIR is kept (and its port).
#   stop   stops the cluster started from DIR.
set -euo pipefail

MODE=${1:-start}
DIR=${2:-${MAILMIGRATE_POSTGRES_DIR:-/tmp/mailmigrate-postgres}}
ROLE=mmtest
DB=mailmigrate_test

LOG_NAME=postgres
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pg_bin() {
  # The newest installed server's bin directory.
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_postgres() {
  runuser -u postgres -- "$@"
}

install_packages() {
  command -v python3 >/dev/null || apt_install --no-install-recommends python3
  if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
    log "installing postgresql"
    apt_install postgresql
  fi
}

start() {
  install_packages
  local bin port
  bin=$(pg_bin)
  mkdir -p "$DIR"
  # The postgres user must reach the data directory inside DIR (mktemp makes it 0700).
  chmod 755 "$DIR"
  if [ -f "$DIR/port" ] && as_postgres "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    port=$(cat "$DIR/port")
    log "already running on 127.0.0.1:$port"
  else
    mkdir -p "$DIR/data" "$DIR/sock" "$DIR/log"
    chown postgres:postgres "$DIR/data" "$DIR/sock" "$DIR/log"
    if [ ! -s "$DIR/data/PG_VERSION" ]; then
      as_postgres "$bin/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --no-sync >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; return 1; }
    fi
    port=$(free_port)
    echo "$port" > "$DIR/port"
    # Tests only: no fsync (the cluster is thrown away), more connections than the default
    # 100 for tests running in parallel, each with a pool.
    as_postgres "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/log/server.log" -w -t 60 \
      -o "-p $port -c listen_addresses=127.0.0.1 -k $DIR/sock -c fsync=off -c max_connections=300" \
      start >/dev/null || { cat "$DIR/log/server.log" >&2; return 1; }
    local psql=("$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
    if [ "$(as_postgres "${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
      as_postgres "${psql[@]}" -c "CREATE ROLE $ROLE LOGIN"
    fi
    if [ "$(as_postgres "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
      as_postgres "${psql[@]}" -c "CREATE DATABASE $DB OWNER $ROLE"
    fi
    log "$("$bin/postgres" --version) on 127.0.0.1:$port"
  fi
  echo "MAILMIGRATE_TEST_POSTGRES_URL=postgres://$ROLE@127.0.0.1:$port/$DB" > "$DIR/env"
}

stop() {
  local bin
  bin=$(pg_bin)
  [ -n "$bin" ] && [ -d "$DIR/data" ] || return 0
  as_postgres "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

case "$MODE" in
  start) start ;;
  stop) stop ;;
  env) cat "$DIR/env" ;;
  *) echo "usage: $0 start|stop|env [DIR]" >&2; exit 2 ;;
esac
