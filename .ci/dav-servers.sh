#!/usr/bin/env bash
# dav-servers.sh start [DIR] | stop [DIR]
#
# Starts private Radicale and Xandikos CalDAV/CardDAV instances on free 127.0.0.1 ports for
# the mailmigrate-dav integration tests, each with its own configuration and storage under
# DIR (default: /tmp/mailmigrate-dav-servers). Never touches the system services or /etc.
#
#   start  installs what is missing (Debian packages radicale and xandikos), starts both
#          servers and writes DIR/env with
#            MAILMIGRATE_TEST_RADICALE_URL, _USER, _PASSWORD  (Basic auth, htpasswd)
#            MAILMIGRATE_TEST_RADICALE_E2E_USER               (a second user, same password)
#            MAILMIGRATE_TEST_XANDIKOS_URL                     (no auth: Xandikos has none)
#          `source DIR/env` before `cargo test`.
#   stop   stops both servers started from DIR.
#
# Radicale: filesystem storage, owner_only rights, plain htpasswd users.
# Xandikos: git-backed storage, --autocreate (the principal /user/ with its calendar and
#           address book home sets, no collections: the tests create their own).
set -euo pipefail

MODE=${1:-start}
DIR=${2:-${MAILMIGRATE_DAV_SERVERS_DIR:-/tmp/mailmigrate-dav-servers}}
USER_NAME=mmdav1
# A second Radicale user whose account only the end-to-end migration test uses.
USER2_NAME=mmdav2
PASS=${MAILMIGRATE_DAV_TEST_PASSWORD:-mm-dav-pass}

LOG_NAME=dav-servers
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wait_http() {
  # wait_http URL: until the server answers at all (any status).
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

install_packages() {
  command -v python3 >/dev/null || apt_install --no-install-recommends python3
  command -v curl >/dev/null || apt_install --no-install-recommends curl
  if ! command -v radicale >/dev/null; then log "installing radicale"; apt_install --no-install-recommends radicale; fi
  if ! command -v xandikos >/dev/null; then log "installing xandikos"; apt_install --no-install-recommends xandikos; fi
}

start_radicale() {
  local d=$DIR/radicale port
  mkdir -p "$d/collections"
  port=$(free_port)
  echo "$port" > "$d/port"
  printf '%s:%s\n%s:%s\n' "$USER_NAME" "$PASS" "$USER2_NAME" "$PASS" > "$d/users"
  cat > "$d/config" <<EOF
[server]
hosts = 127.0.0.1:$port
max_content_length = 100000000

[auth]
type = htpasswd
htpasswd_filename = $d/users
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = $d/collections

[logging]
level = warning
EOF
  nohup radicale --config "$d/config" > "$d/log" 2>&1 &
  echo $! > "$d/pid"
  wait_http "http://127.0.0.1:$port/" || { log "radicale did not start"; cat "$d/log" >&2; return 1; }
  log "radicale $(radicale --version) on 127.0.0.1:$port"
}

start_xandikos() {
  local d=$DIR/xandikos port
  mkdir -p "$d/data"
  port=$(free_port)
  echo "$port" > "$d/port"
  nohup xandikos -d "$d/data" -l 127.0.0.1 -p "$port" --autocreate \
    --current-user-principal /user/ > "$d/log" 2>&1 &
  echo $! > "$d/pid"
  wait_http "http://127.0.0.1:$port/" || { log "xandikos did not start"; cat "$d/log" >&2; return 1; }
  log "xandikos $(xandikos --version 2>/dev/null || echo 0) on 127.0.0.1:$port"
}

write_env() {
  {
    echo "export MAILMIGRATE_TEST_RADICALE_URL=http://127.0.0.1:$(cat "$DIR/radicale/port")/"
    echo "export MAILMIGRATE_TEST_RADICALE_USER=$USER_NAME"
    echo "export MAILMIGRATE_TEST_RADICALE_PASSWORD=$PASS"
    echo "export MAILMIGRATE_TEST_RADICALE_E2E_USER=$USER2_NAME"
    echo "export MAILMIGRATE_TEST_XANDIKOS_URL=http://127.0.0.1:$(cat "$DIR/xandikos/port")/"
  } > "$DIR/env"
}

case "$MODE" in
  start)
    [ "$(id -u)" = 0 ] || { log "must run as root (installs packages)"; exit 1; }
    mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
    install_packages
    start_radicale
    start_xandikos
    write_env
    cat "$DIR/env"
    ;;
  stop)
    [ -d "$DIR" ] || exit 0
    DIR=$(cd "$DIR" && pwd)
    stop_pidfile "$DIR/radicale/pid" --force
    stop_pidfile "$DIR/xandikos/pid" --force
    rm -f "$DIR/env"
    log "stopped"
    ;;
  *)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
