# lib.sh: shell functions shared by the scripts that start private test servers
# (imap-servers.sh, dav-servers.sh). Sourced, never run:
#
#   LOG_NAME=dav-servers
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# LOG_NAME prefixes what log prints.

log() {
  # log MESSAGE...: to stderr, prefixed with the script's LOG_NAME.
  echo "${LOG_NAME:-ci}: $*" >&2
}

free_port() {
  # free_port: prints a TCP port on 127.0.0.1 that nothing listens on now.
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

apt_install() {
  # apt_install [apt options] PACKAGES...: installs, refreshing the package lists once if needed.
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$@" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -q "$@" >/dev/null; }
}

stop_pidfile() {
  # stop_pidfile PIDFILE [--force]: stops the process PIDFILE names (TERM, then up to 5 s
  # for it to exit; with --force, KILL after that) and removes PIDFILE. Nothing to do
  # without PIDFILE.
  local pidfile=$1 force=${2:-} pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if [ "$force" = --force ]; then kill -9 "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}
