#!/usr/bin/env bash
# imap-servers.sh start [DIR] | stop [DIR] | env [DIR]
#
# Starts private Dovecot and Cyrus IMAP instances on free 127.0.0.1 ports for the
# mailmigrate-imap integration tests, each with its own configuration and data under DIR
# (default: /tmp/mailmigrate-imap-servers). Never touches the system services or /etc.
#
#   start  installs what is missing (Debian packages), starts both servers, creates the test
#          users and writes DIR/env with MAILMIGRATE_TEST_IMAP_{DOVECOT,CYRUS}_{HOST,PORT,USER,
#          PASSWORD} (and _TLS=plaintext), MAILMIGRATE_TEST_IMAP_CYRUS_MUNGE8BIT_PORT (the same Cyrus
#          with its default munge8bit: 8-bit header bytes stored as X), plus MAILMIGRATE_TEST_IMAP_DOVECOT_TLS_PORT (implicit
#          TLS; STARTTLS works on the plain port), MAILMIGRATE_TEST_IMAP_DOVECOT_LMTP_PORT (LMTP
#          delivery into the Dovecot users' INBOX, for the send-and-receive probe) and MAILMIGRATE_TEST_IMAP_CA_FILE, the private
#          CA that signed Dovecot's certificate, and MAILMIGRATE_TEST_IMAP_DOVECOT_OAUTH_{USER,KEY}:
#          a user who signs in only with XOAUTH2/OAUTHBEARER bearer tokens, HS256 JWTs signed
#          with KEY (base64) and validated by Dovecot itself (oauth2 passdb, introspection_mode
#          local; the token's `sub` is the user), and MAILMIGRATE_TEST_IMAP_CAMPAIGN_USERS: the
#          30 mailboxes of the campaign tests, on both servers. `source DIR/env` before `cargo test`.
#   stop   stops both servers started from DIR.
#   env    prints DIR/env.
#
# Dovecot: Debian's dovecot-imapd and dovecot-lmtpd, Maildir, passwd-file users.
# Cyrus:   Debian's cyrus-imapd conflicts with dovecot-imapd (both provide imap-server), so
#          cyrus-common is installed with --no-install-recommends and the cyrus-imapd package
#          is unpacked with dpkg -x into DIR/cyrus/pkg; a private cyrus.conf points master at
#          that imapd. altnamespace + unixhierarchysep are on, and sasl_pwcheck_method is
#          alwaystrue: any password is accepted for the throwaway users.
set -euo pipefail

MODE=${1:-start}
DIR=${2:-${MAILMIGRATE_IMAP_SERVERS_DIR:-/tmp/mailmigrate-imap-servers}}
PASS=${MAILMIGRATE_IMAP_TEST_PASSWORD:-mm-test-pass}
# The campaign tests' 30 mailboxes (mmc01..mmc30) live on both servers beside the two
# test users.
CAMPAIGN_USERS=$(seq -f 'mmc%02g' 1 30 | tr '\n' ' ')
USERS="mmtest1 mmtest2 $CAMPAIGN_USERS"
MAILUSER=mmimap
OAUTH_USER=mmoauth1
CYRUS_ADMIN=mmadmin

LOG_NAME=imap-servers
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

wait_port() {
  local port=$1
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

install_packages() {
  command -v python3 >/dev/null || apt_install python3
  command -v openssl >/dev/null || apt_install openssl
  if ! dpkg -s dovecot-imapd >/dev/null 2>&1 || ! dpkg -s dovecot-lmtpd >/dev/null 2>&1 \
    || ! command -v dovecot >/dev/null; then
    log "installing dovecot-imapd and dovecot-lmtpd"
    apt_install dovecot-core dovecot-imapd dovecot-lmtpd
  fi
  if ! dpkg -s cyrus-common >/dev/null 2>&1; then
    log "installing cyrus-common (no recommends)"
    apt_install --no-install-recommends cyrus-common
  fi
  if [ ! -x "$DIR/cyrus/pkg/usr/lib/cyrus/bin/imapd" ]; then
    log "unpacking cyrus-imapd"
    mkdir -p "$DIR/cyrus/deb"
    (cd "$DIR/cyrus/deb" && { apt-get download cyrus-imapd >/dev/null 2>&1 || { apt-get update -qq && apt-get download cyrus-imapd >/dev/null; }; })
    dpkg -x "$DIR"/cyrus/deb/cyrus-imapd_*.deb "$DIR/cyrus/pkg"
  fi
}

make_certs() {
  # A throwaway CA and a server certificate for 127.0.0.1/localhost, signed by it.
  local c=$DIR/certs
  [ -s "$c/server.pem" ] && return 0
  mkdir -p "$c"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=mailmigrate test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$c/ca.key" -out "$c/ca.pem" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$c/server.key" -out "$c/server.csr" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$c/server.ext"
  openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial \
    -days 3650 -extfile "$c/server.ext" -out "$c/server.pem" >/dev/null 2>&1
  chmod 644 "$c/ca.pem" "$c/server.pem"; chmod 600 "$c/server.key" "$c/ca.key"
}

start_dovecot() {
  local d=$DIR/dovecot port tlsport lmtpport
  if [ -f "$d/run/master.pid" ] && kill -0 "$(cat "$d/run/master.pid")" 2>/dev/null; then
    log "dovecot already running"
    return 0
  fi
  id "$MAILUSER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$MAILUSER"
  local muid mgid
  muid=$(id -u "$MAILUSER"); mgid=$(id -g "$MAILUSER")
  port=$(free_port)
  tlsport=$(free_port)
  lmtpport=$(free_port)
  make_certs
  rm -rf "$d"; mkdir -p "$d/run" "$d/state" "$d/log" "$d/mail"
  chmod 755 "$DIR" "$d" "$d/mail"; chown "$MAILUSER:" "$d/mail"
  : > "$d/users"
  for u in $USERS; do echo "$u:{PLAIN}$PASS::::::" >> "$d/users"; done
  chown root:dovecot "$d/users"; chmod 640 "$d/users"
  # OAuth2: JWTs validated locally with an HS256 key looked up in a dict at
  # <azp>/<alg>/<kid>, which is default/HS256/default for tokens without azp and kid.
  mkdir -p "$d/oauth2-keys/default/HS256"
  openssl rand -base64 32 | tr -d '\n' > "$d/oauth2-keys/default/HS256/default"
  chmod -R a+rX "$d/oauth2-keys"
  cat > "$d/oauth2.conf.ext" <<OAUTH
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$d/oauth2-keys/
username_attribute = sub
OAUTH
  cat > "$d/dovecot.conf" <<CONF
# private test instance written by .ci/imap-servers.sh
instance_name = mm-test-$port
base_dir = $d/run
state_dir = $d/state
log_path = $d/log/dovecot.log
info_log_path = $d/log/dovecot-info.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <$DIR/certs/server.pem
ssl_key = <$DIR/certs/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
# Refused logins answer at once (the tests refuse tokens on purpose): no failure delay,
# and no anvil auth penalty (which slows every later login from the IP, up to 15 s).
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = $muid
last_valid_uid = $muid
mail_location = maildir:~/Maildir
mail_plugins = \$mail_plugins
namespace inbox {
  inbox = yes
  separator = /
  prefix =
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/users
}
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $d/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=$muid gid=$mgid home=$d/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $tlsport
    ssl = yes
  }
}
# LMTP on 127.0.0.1 for the send-and-receive probe's tests: RCPT TO:<user@anything>
# delivers into user's INBOX (the domain is dropped, as the passwd-file has bare names).
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $lmtpport
  }
}
protocol lmtp {
  auth_username_format = %Ln
}
protocol imap {
  mail_max_userip_connections = 64
  imap_capability = +CONDSTORE
}
CONF
  dovecot -c "$d/dovecot.conf" </dev/null >/dev/null 2>&1
  for _ in $(seq 1 50); do [ -s "$d/run/master.pid" ] && break; sleep 0.1; done
  wait_port "$port" || { log "dovecot did not open port $port"; cat "$d/log/dovecot.log" >&2 || true; return 1; }
  wait_port "$tlsport" || { log "dovecot did not open TLS port $tlsport"; return 1; }
  wait_port "$lmtpport" || { log "dovecot did not open LMTP port $lmtpport"; return 1; }
  echo "$port" > "$d/port"
  echo "$tlsport" > "$d/tlsport"
  echo "$lmtpport" > "$d/lmtpport"
  log "dovecot $(dovecot --version | cut -d' ' -f1) on 127.0.0.1:$port"
}

start_cyrus() {
  local d=$DIR/cyrus bin sys port mungeport
  bin=$d/pkg/usr/lib/cyrus/bin   # imapd from the unpacked cyrus-imapd package
  sys=/usr/lib/cyrus/bin         # master and tools from cyrus-common
  if [ -f "$d/master.pid" ] && kill -0 "$(cat "$d/master.pid")" 2>/dev/null; then
    log "cyrus already running"
    return 0
  fi
  port=$(free_port)
  mungeport=$(free_port)
  rm -rf "$d/lib" "$d/spool" "$d/run" "$d/log"
  mkdir -p "$d/lib" "$d/spool" "$d/run" "$d/log"
  chmod 755 "$DIR" "$d"
  cat > "$d/imapd.conf" <<CONF
# private test instance written by .ci/imap-servers.sh
configdirectory: $d/lib
partition-default: $d/spool
servername: localhost
admins: $CYRUS_ADMIN
altnamespace: yes
unixhierarchysep: yes
sasl_pwcheck_method: alwaystrue
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
virtdomains: no
idlesocket: $d/run/idle
lmtpsocket: $d/run/lmtp
notifysocket: $d/run/notify
mboxname_lockpath: $d/run/lock
proc_path: $d/run/proc
statuscache: no
syslog_prefix: mm-test-cyrus
specialusealways: yes
# Keep 8-bit header bytes as they are (the default replaces them with 'X'), so messages
# round-trip byte-exact.
munge8bit: no
CONF
  # A second imapd over the same mailboxes with Cyrus's default, munge8bit on: the server
  # the IMAP backend's fidelity probe must find out.
  grep -v '^munge8bit:' "$d/imapd.conf" > "$d/imapd-munge8bit.conf"
  cat > "$d/cyrus.conf" <<CONF
START {
  recover cmd="$sys/ctl_cyrusdb -C $d/imapd.conf -r"
}
SERVICES {
  imap cmd="$bin/imapd -C $d/imapd.conf" listen="127.0.0.1:$port" prefork=0 maxchild=64
  imapmunge cmd="$bin/imapd -C $d/imapd-munge8bit.conf" listen="127.0.0.1:$mungeport" prefork=0 maxchild=8
}
EVENTS {
}
DAEMON {
}
CONF
  chown -R cyrus:mail "$d/lib" "$d/spool" "$d/run" "$d/log"
  "$sys/master" -C "$d/imapd.conf" -M "$d/cyrus.conf" -p "$d/master.pid" -d </dev/null >/dev/null 2>&1
  for _ in $(seq 1 50); do [ -s "$d/master.pid" ] && break; sleep 0.1; done
  wait_port "$port" || { log "cyrus did not open port $port"; return 1; }
  wait_port "$mungeport" || { log "cyrus did not open port $mungeport"; return 1; }
  echo "$port" > "$d/port"
  echo "$mungeport" > "$d/mungeport"
  # Create each user's INBOX as the admin, over IMAP (sasl_pwcheck_method alwaystrue).
  python3 - "$port" "$CYRUS_ADMIN" "$PASS" $USERS <<'PY'
import imaplib, sys
imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
port, admin, password, users = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
m = imaplib.IMAP4("127.0.0.1", port)
m.login(admin, password)
for u in users:
    typ, data = m.create("user/" + u)
    if typ != "OK" and b"exists" not in b" ".join(d or b"" for d in data).lower():
        sys.exit("cyrus: CREATE user/%s failed: %s %r" % (u, typ, data))
    for sub in ("Sent", "Drafts", "Trash"):
        m.create("user/%s/%s" % (u, sub))
m.logout()
# special-use roles are set by each user on their own folders
for u in users:
    c = imaplib.IMAP4("127.0.0.1", port)
    c.login(u, password)
    for sub, role in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash")):
        typ, data = c._simple_command("SETMETADATA", '"%s"' % sub, '(/private/specialuse "%s")' % role.replace("\\", "\\\\"))
        if typ != "OK":
            sys.exit("cyrus: SETMETADATA %s failed: %s %r" % (sub, typ, data))
        c.subscribe(sub)
    c.logout()
PY
  log "cyrus $("$bin/imapd" -V 2>/dev/null | head -1 || echo 3) on 127.0.0.1:$port"
}

write_env() {
  local first
  first=${USERS%% *}
  {
    echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_HOST=127.0.0.1"
    echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_PORT=$(cat "$DIR/dovecot/port")"
    echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_USER=$first"
    echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_PASSWORD=$PASS"
    echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_TLS=plaintext"
    echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_TLS_PORT=$(cat "$DIR/dovecot/tlsport")"
    [ ! -s "$DIR/dovecot/lmtpport" ] || echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_LMTP_PORT=$(cat "$DIR/dovecot/lmtpport")"
    echo "export MAILMIGRATE_TEST_IMAP_CA_FILE=$DIR/certs/ca.pem"
    echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_OAUTH_USER=$OAUTH_USER"
    echo "export MAILMIGRATE_TEST_IMAP_DOVECOT_OAUTH_KEY=$(cat "$DIR/dovecot/oauth2-keys/default/HS256/default")"
    echo "export MAILMIGRATE_TEST_IMAP_CYRUS_HOST=127.0.0.1"
    echo "export MAILMIGRATE_TEST_IMAP_CYRUS_PORT=$(cat "$DIR/cyrus/port")"
    echo "export MAILMIGRATE_TEST_IMAP_CYRUS_USER=$first"
    echo "export MAILMIGRATE_TEST_IMAP_CAMPAIGN_USERS=\"${CAMPAIGN_USERS% }\""
    echo "export MAILMIGRATE_TEST_IMAP_CYRUS_PASSWORD=$PASS"
    echo "export MAILMIGRATE_TEST_IMAP_CYRUS_TLS=plaintext"
    echo "export MAILMIGRATE_TEST_IMAP_CYRUS_MUNGE8BIT_PORT=$(cat "$DIR/cyrus/mungeport")"
  } > "$DIR/env"
}

stop_all() {
  if [ -f "$DIR/dovecot/dovecot.conf" ]; then
    doveadm -c "$DIR/dovecot/dovecot.conf" stop 2>/dev/null || true
  fi
  stop_pidfile "$DIR/cyrus/master.pid"
  rm -f "$DIR/env"
  log "stopped"
}

case "$MODE" in
  start)
    [ "$(id -u)" = 0 ] || { log "must run as root (installs packages, starts servers)"; exit 1; }
    mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
    install_packages
    start_dovecot
    start_cyrus
    write_env
    cat "$DIR/env"
    ;;
  stop)
    [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
    stop_all
    ;;
  env)
    cat "$DIR/env"
    ;;
  *)
    echo "usage: $0 start|stop|env [DIR]" >&2
    exit 2
    ;;
esac
