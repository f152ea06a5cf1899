#!/usr/bin/env bash
# dav-servers.sh start [DIR] | stop [DIR]
#
# Starts private Radicale and Xandikos CalDAV/CardDAV instances on free 127.0.0.1 ports for
# the mailmigrate-dav integration tests, each with its own configuration and storage under
# DIR (default: /tmp/mailmigrate-dav-servers). Never touches the system services or /etc.
#
#   start  installs what is missing (Debian packages radicale, xandikos and openssl), makes
#          a throwaway CA with its certificates, starts the servers and writes DIR/env with
#            MAILMIGRATE_TEST_RADICALE_URL, _USER, _PASSWORD  (Basic auth, htpasswd)
#            MAILMIGRATE_TEST_RADICALE_E2E_USER               (a second user, same password)
#            MAILMIGRATE_TEST_RADICALE_TLS_URL, _USER, _PASSWORD
#                                      (a second Radicale, https only, the same users; its
#                                       certificate is for 127.0.0.1 and localhost)
#            MAILMIGRATE_TEST_RADICALE_TLS_CA                 (the CA's PEM, which signed it)
#            MAILMIGRATE_TEST_RADICALE_TLS_WRONG_NAME_URL     (a third, https only, whose
#                                       certificate from the same CA names another host)
#            MAILMIGRATE_TEST_XANDIKOS_URL                     (no auth: Xandikos has none)
#          `source DIR/env` before `cargo test`. Servers already running from DIR are
#          kept (and their ports), so starting twice is harmless.
#   stop   stops the servers started from DIR.
#
# Radicale: filesystem storage, owner_only rights, plain htpasswd users; the TLS instances
#           have storage of their own ([server] ssl, certificate, key: Radicale 3.1).
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
  # wait_http URL [CURL OPTIONS]: until the server answers at all (any status).
  local url=$1; shift
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "$@" "$url" && return 0
    sleep 0.1
  done
  return 1
}

install_packages() {
  command -v python3 >/dev/null || apt_install --no-install-recommends python3
  command -v curl >/dev/null || apt_install --no-install-recommends curl
  command -v openssl >/dev/null || apt_install --no-install-recommends openssl
  if ! command -v radicale >/dev/null; then log "installing radicale"; apt_install --no-install-recommends radicale; fi
  if ! command -v xandikos >/dev/null; then log "installing xandikos"; apt_install --no-install-recommends xandikos; fi
}

running() {
  # running PIDFILE: whether the process PIDFILE names is alive.
  [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

make_certs() {
  # A throwaway CA; a server certificate for 127.0.0.1 and localhost, and one for a host
  # name that is not this one (wrong-name.invalid), both signed by it. Kept once made.
  local c=$DIR/certs
  [ -s "$c/server.pem" ] && [ -s "$c/wrong-name.pem" ] && return 0
  mkdir -p "$c"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mailmigrate dav test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$c/ca.key" -out "$c/ca.pem" >/dev/null 2>&1
  sign_cert server 127.0.0.1 "IP:127.0.0.1,DNS:localhost"
  sign_cert wrong-name wrong-name.invalid "DNS:wrong-name.invalid"
  chmod 644 "$c/ca.pem"; chmod 600 "$c/ca.key"
}

sign_cert() {
  # sign_cert NAME CN SAN: DIR/certs/NAME.pem and NAME.key, for the subjectAltName SAN.
  local c=$DIR/certs name=$1 cn=$2 san=$3
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" \
    -keyout "$c/$name.key" -out "$c/$name.csr" >/dev/null 2>&1
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$san" > "$c/$name.ext"
  openssl x509 -req -in "$c/$name.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
    -days 3650 -extfile "$c/$name.ext" -out "$c/$name.pem" >/dev/null 2>&1
  chmod 644 "$c/$name.pem"; chmod 600 "$c/$name.key"
}

start_radicale() {
  # start_radicale NAME [CERT HOST]: a Radicale under DIR/NAME, over TLS with
  # DIR/certs/CERT.pem and CERT.key when CERT is given, which must verify for HOST.
  local name=$1 cert=${2:-} host=${3:-127.0.0.1} d=$DIR/$1 port scheme=http ssl=""
  local check=()
  if [ -n "$cert" ]; then
    scheme=https
    ssl="ssl = True
certificate = $DIR/certs/$cert.pem
key = $DIR/certs/$cert.key"
  fi
  if running "$d/pid"; then
    log "$name already running on 127.0.0.1:$(cat "$d/port")"
    return 0
  fi
  mkdir -p "$d/collections"
  port=$(free_port)
  echo "$port" > "$d/port"
  printf '%s:%s\n%s:%s\n' "$USER_NAME" "$PASS" "$USER2_NAME" "$PASS" > "$d/users"
  cat > "$d/config" <<EOF
[server]
hosts = 127.0.0.1:$port
max_content_length = 100000000
$ssl

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
  # Over TLS, the certificate must verify with the CA for HOST (reached at 127.0.0.1).
  [ -n "$cert" ] && check=(--cacert "$DIR/certs/ca.pem" --connect-to "$host:$port:127.0.0.1:$port")
  wait_http "$scheme://$host:$port/" "${check[@]}" || { log "$name did not start"; cat "$d/log" >&2; return 1; }
  log "$name: radicale $(radicale --version) on $scheme://127.0.0.1:$port/"
}

start_xandikos() {
  local d=$DIR/xandikos port
  if running "$d/pid"; then
    log "xandikos already running on 127.0.0.1:$(cat "$d/port")"
    return 0
  fi
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
    echo "export MAILMIGRATE_TEST_RADICALE_TLS_URL=https://127.0.0.1:$(cat "$DIR/radicale-tls/port")/"
    echo "export MAILMIGRATE_TEST_RADICALE_TLS_USER=$USER_NAME"
    echo "export MAILMIGRATE_TEST_RADICALE_TLS_PASSWORD=$PASS"
    echo "export MAILMIGRATE_TEST_RADICALE_TLS_CA=$DIR/certs/ca.pem"
    echo "export MAILMIGRATE_TEST_RADICALE_TLS_WRONG_NAME_URL=https://127.0.0.1:$(cat "$DIR/radicale-wrong-name/port")/"
    echo "export MAILMIGRATE_TEST_XANDIKOS_URL=http://127.0.0.1:$(cat "$DIR/xandikos/port")/"
  } > "$DIR/env"
}

case "$MODE" in
  start)
    [ "$(id -u)" = 0 ] || { log "must run as root (installs packages)"; exit 1; }
    mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
    install_packages
    make_certs
    start_radicale radicale
    start_radicale radicale-tls server 127.0.0.1
    start_radicale radicale-wrong-name wrong-name wrong-name.invalid
    start_xandikos
    write_env
    cat "$DIR/env"
    ;;
  stop)
    [ -d "$DIR" ] || exit 0
    DIR=$(cd "$DIR" && pwd)
    for name in radicale radicale-tls radicale-wrong-name; do
      stop_pidfile "$DIR/$name/pid" --force
    done
    stop_pidfile "$DIR/xandikos/pid" --force
    rm -f "$DIR/env"
    log "stopped"
    ;;
  *)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
