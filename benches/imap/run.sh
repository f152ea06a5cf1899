#!/usr/bin/env bash
# IMAP -> IMAP end-to-end benchmark: mailmigrate against mbsync and the server's own floor.
#
#   bash benches/imap/run.sh [N=10000] [N_SMALL=2000]
#
# On this machine, over loopback: starts a private Dovecot, loads an N-message corpus into
# src1, then measures (wall, CPU s, peak RSS with /usr/bin/time -v)
#   1. the floor: physical.py's pipelined APPEND of the same corpus (dst3),
#   2. the peer: mbsync src1 -> dst1 (CopyArrivalDate yes), then verify.py,
#   3. mailmigrate (engine + mailmigrate_imap::Imap on both sides, SQLite state) src1 -> dst2,
#      then verify.py, which must say IDENTICAL (2 and 3 alternate ROUNDS times),
#   3b. the operator's CLI, `migrate --config` (the same engine, plus the end-of-pass check
#      and its report) src1 -> dst7, then verify.py,
#   4. a no-change pass of all three, then an incremental pass of all three after
#      `corpus.py load --extra` (1 % more messages) and 50 flag changes at src1, then
#      `migrate verify` (the CLI's full comparison, its own step); with hyperfine
#      installed, the no-change passes are also timed over repeated runs,
#   4b. the CLI again over the complete dst7 after its state file was deleted (every
#      message deduplicated by look-up), against the first CLI copy's wall time,
#   5. both tools again on an N_SMALL-message subset of the corpus (src2) holding the same
#      largest messages, to show that peak RSS does not grow with the number of messages,
# and prints the table (benches/imap/report.py). See benches/imap/README.md.
#
# Environment (all optional):
#   MAILMIGRATE_SHARED_DIR  the shared harness (default: ../shared next to the repository)
#   BENCH_PORT              Dovecot's port on 127.0.0.1 (default 10243)
#   BENCH_PASS              password of the benchmark users (default benchpass)
#   MM_FOLDER_CONCURRENCY MM_BATCH_SIZE MM_POOL_SIZE MM_FETCH_BATCH   mailmigrate tuning
#   FLOOR_CONNS             connections of the physical floor (default 2)
#   ROUNDS                  full migrations of each tool, alternating (default 2; best one counts)
#   KEEP_DOVECOT=1          leave the Dovecot instance running at the end
# Needs root for apt-get (dovecot-imapd, isync, time) and for Dovecot's mail user.
set -euo pipefail

N=${1:-10000}
N_SMALL=${2:-2000}
ROUNDS=${ROUNDS:-2}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/benches/imap
SHARED=${MAILMIGRATE_SHARED_DIR:-$REPO/../shared}
BENCH=$SHARED/bench
PORT=${BENCH_PORT:-10243}
export BENCH_PASS=${BENCH_PASS:-benchpass}
CACHE_ROOT=$REPO/target/imapbench
WORK=$CACHE_ROOT/run-$PORT
RES=$WORK/results
DV=$WORK/dovecot

[ -x "$BENCH/dovecot-up.sh" ] || [ -f "$BENCH/dovecot-up.sh" ] || {
  echo "shared harness not found at $BENCH (set MAILMIGRATE_SHARED_DIR)" >&2; exit 2; }

log() { printf '\n[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

# --- tools -------------------------------------------------------------------------------
need_pkgs=()
command -v mbsync >/dev/null || need_pkgs+=(isync)
[ -x /usr/bin/time ] || need_pkgs+=(time)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -q "${need_pkgs[@]}" >/dev/null
fi

log "building imap_migrate and the migrate CLI (release)"
(cd "$REPO" && cargo build --release --quiet -p mailmigrate-benches --bin imap_migrate \
  -p mailmigrate-examples --bin migrate)
BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/imap_migrate
CLI=${CARGO_TARGET_DIR:-$REPO/target}/release/migrate

# --- server and corpus -------------------------------------------------------------------
if [ -f "$DV/dovecot.conf" ]; then
  doveadm -c "$DV/dovecot.conf" stop >/dev/null 2>&1 || true
  for _ in $(seq 1 50); do [ -s "$DV/run/master.pid" ] && kill -0 "$(cat "$DV/run/master.pid")" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$WORK"
mkdir -p "$RES" "$WORK/state"
log "starting Dovecot on 127.0.0.1:$PORT"
# the daemon inherits stdout: send it to a file, not to a pipe someone waits on
bash "$BENCH/dovecot-up.sh" "$DV" "$PORT" 7 > "$WORK/dovecot-up.log" 2>&1
head -1 "$WORK/dovecot-up.log"
stop_dovecot() {
  if [ "${KEEP_DOVECOT:-0}" != 1 ]; then
    doveadm -c "$DV/dovecot.conf" stop >/dev/null 2>&1 || true
    rm -rf "${DV:?}/mail"  # the copies (GBs); the figures stay in $RES
  else
    echo "Dovecot left running: doveadm -c $DV/dovecot.conf stop"
  fi
}
trap stop_dovecot EXIT

corpus() { # corpus N -> cache dir (generated once)
  local c=$CACHE_ROOT/corpus-$1
  if [ ! -f "$c/manifest.json" ]; then
    python3 "$BENCH/corpus.py" generate --out "$c" --n "$1" > "$WORK/generate-$1.log"
  fi
  echo "$c"
}
subset() { # subset CACHE K -> a K-message cache: every message over 5 MB of CACHE, then an
  # even spread of the rest, sharing CACHE's files. Its largest message is CACHE's, so peak RSS
  # at K and at N differ only by the number of messages.
  local c=$CACHE_ROOT/subset-$(basename "$1")-$2
  if [ ! -f "$c/manifest.json" ]; then
    mkdir -p "$c" && ln -sfn "$1/msgs" "$c/msgs"
    python3 - "$1/manifest.json" "$2" > "$c/manifest.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1])); k = int(sys.argv[2])
big = [x for x in m["base"] if x["size"] > 5_000_000]
rest = [x for x in m["base"] if x["size"] <= 5_000_000]
want = max(0, k - len(big))
step = max(1, len(rest) // max(1, want))
m["base"] = big + rest[::step][:want]
json.dump(m, sys.stdout)
PYEOF
  fi
  echo "$c"
}
log "corpus: $N messages (cached under $CACHE_ROOT), and a $N_SMALL-message subset of it"
C_BIG=$(corpus "$N")
C_SMALL=$(subset "$C_BIG" "$N_SMALL")
python3 "$BENCH/corpus.py" load --cache "$C_BIG" --dovecot "$DV" --user src1 --fresh
python3 "$BENCH/corpus.py" load --cache "$C_SMALL" --dovecot "$DV" --user src2 --fresh

# --- measured steps ----------------------------------------------------------------------
timed() { # timed NAME CMD... : /usr/bin/time -v into RES/NAME.time, stdout into RES/NAME.json
  local name=$1; shift
  sync
  /usr/bin/time -v -o "$RES/$name.time" "$@" > "$RES/$name.json"
}
ours() { # ours NAME SRC DST
  local args=(--port "$PORT" --src "$2" --dst "$3" --state "$WORK/state/$2-$3.sqlite"
              --folder-concurrency "${MM_FOLDER_CONCURRENCY:-2}" --pool-size "${MM_POOL_SIZE:-2}")
  [ -n "${MM_BATCH_SIZE:-}" ] && args+=(--batch-size "$MM_BATCH_SIZE")
  [ -n "${MM_FETCH_BATCH:-}" ] && args+=(--fetch-batch "$MM_FETCH_BATCH")
  timed "$1" "$BIN" "${args[@]}"
  cat "$RES/$1.json"
}
cli_job() { # cli_job SRC DST -> the CLI's job file for SRC -> DST (password from BENCH_PASS)
  local job=$WORK/cli-$1-$2.toml
  cat > "$job" <<EOF
source = "imap://$1@127.0.0.1:$PORT/?tls=plaintext&password_env=BENCH_PASS"
destination = "imap://$2@127.0.0.1:$PORT/?tls=plaintext&password_env=BENCH_PASS"
state = "$WORK/state/cli-$1-$2.sqlite"
folder_concurrency = ${MM_FOLDER_CONCURRENCY:-2}
EOF
  echo "$job"
}
cli() { # cli NAME SRC DST [verify]: the migrate CLI; its report in RES/NAME.out, exit code in RES/NAME.rc
  local job rc=0
  job=$(cli_job "$2" "$3")
  sync
  /usr/bin/time -v -o "$RES/$1.time" "$CLI" ${4:+"$4"} --config "$job" > "$RES/$1.out" || rc=$?
  echo "$rc" > "$RES/$1.rc"
  grep -E "^(Total|Nothing to do|Copies written|Folder counts|Totals|Result)" "$RES/$1.out" | sed 's/^/  /'
  grep -E "Elapsed" "$RES/$1.time" | sed 's/^\s*/  /'
}
mbsync_run() { # mbsync_run NAME SRC DST
  mkdir -p "$WORK/mbsync-$2-$3"
  BENCH_HOST=127.0.0.1 BENCH_PORT=$PORT BENCH_STATE=$WORK/mbsync-$2-$3 \
    timed "$1" bash "$BENCH/mbsync-peer.sh" "$2" "$3"
  rm -f "$RES/$1.json"
  grep -E "Elapsed" "$RES/$1.time" | sed 's/^\s*/  /'
}
verify() { # verify LABEL SRC DST -> its exit status; verdict line appended to verify.txt
  local rc=0
  python3 "$BENCH/verify.py" --port "$PORT" --src "$2" --dst "$3" --password "$BENCH_PASS" \
    --json "$RES/verify-$1.json" > "$RES/verify-$1.txt" || rc=$?
  cat "$RES/verify-$1.txt"
  printf '%-22s %s\n' "$1:" "$(head -1 "$RES/verify-$1.txt")" >> "$RES/verify.txt"
  return $rc
}

log "1/5 physical floor: pipelined APPEND of the corpus into dst3 (${FLOOR_CONNS:-2} connections)"
timed floor python3 "$BENCH/physical.py" append --port "$PORT" --user dst3 --password "$BENCH_PASS" \
  --cache "$C_BIG" --conns "${FLOOR_CONNS:-2}" --select-target
cat "$RES/floor.json"

reset_user() { # reset_user USER: an empty account again (and no mailmigrate/mbsync state for it)
  doveadm -c "$DV/dovecot.conf" kick "$1" >/dev/null 2>&1 || true
  rm -rf "${DV:?}/mail/$1" "$WORK"/state/*-"$1".sqlite* "$WORK"/mbsync-*-"$1"
}
# The machine is noisy: alternate the peer and ours ROUNDS times into emptied accounts; the
# table uses each tool's best round and lists all of them.
for r in $(seq 1 "$ROUNDS"); do
  log "2/5 round $r/$ROUNDS peer: mbsync src1 -> dst1"
  reset_user dst1
  mbsync_run "mbsync-r$r" src1 dst1
  log "3/5 round $r/$ROUNDS mailmigrate src1 -> dst2"
  reset_user dst2
  ours "ours-r$r" src1 dst2
done
echo "$N" > "$RES/mbsync.count"
python3 "$HERE/report.py" --pick-best "$RES" mbsync ours
verify mbsync src1 dst1 || echo "  (expected: mbsync adds an X-TUID header to every message)"
FAILED=0
verify mailmigrate src1 dst2 || { FAILED=1; echo "  MAILMIGRATE IS NOT BYTE-EXACT" >&2; }

log "3b/5 the migrate CLI src1 -> dst7 (engine + end-of-pass check and report)"
reset_user dst7
cli cli src1 dst7
verify mailmigrate-cli src1 dst7 || { FAILED=1; echo "  THE CLI IS NOT BYTE-EXACT" >&2; }

log "4/5 no-change passes, then incremental passes after new messages and flag changes"
ours noop src1 dst2
mbsync_run mbsync_noop src1 dst1
cli cli_noop src1 dst7
if command -v hyperfine >/dev/null; then
  # Repeated runs of the same no-change pass (each leaves nothing to do for the next).
  CLI_JOB=$(cli_job src1 dst7)
  hyperfine -N --warmup 1 --runs "${NOOP_RUNS:-10}" --export-json "$RES/noop-hyperfine.json" \
    -n "imap_migrate" "$BIN --port $PORT --src src1 --dst dst2 --state $WORK/state/src1-dst2.sqlite --folder-concurrency ${MM_FOLDER_CONCURRENCY:-2} --pool-size ${MM_POOL_SIZE:-2}" \
    -n "migrate CLI" "$CLI --config $CLI_JOB" \
    -n "mbsync" "env BENCH_HOST=127.0.0.1 BENCH_PORT=$PORT BENCH_STATE=$WORK/mbsync-src1-dst1 bash $BENCH/mbsync-peer.sh src1 dst1" \
    > "$RES/noop-hyperfine.txt" 2>&1 || echo "  (hyperfine failed: $RES/noop-hyperfine.txt)"
  grep -E "^(Benchmark|  Time)" "$RES/noop-hyperfine.txt" || true
fi
python3 "$BENCH/corpus.py" load --cache "$C_BIG" --dovecot "$DV" --user src1 --extra
python3 "$HERE/change_flags.py" --port "$PORT" --user src1 --password "$BENCH_PASS" --count 50 \
  > "$WORK/flags.json"
python3 - "$C_BIG/manifest.json" "$WORK/flags.json" > "$RES/changes.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); f = json.load(open(sys.argv[2]))
print(json.dumps({"new": len(m["extra"]), "changed": f["changed"]}))
EOF
cat "$RES/changes.json"
ours incr src1 dst2
mbsync_run mbsync_incr src1 dst1
cli cli_incr src1 dst7
verify mailmigrate-incr src1 dst2 || { FAILED=1; echo "  MAILMIGRATE INCREMENTAL PASS IS NOT EXACT" >&2; }
verify mailmigrate-cli-incr src1 dst7 || { FAILED=1; echo "  THE CLI'S INCREMENTAL PASS IS NOT EXACT" >&2; }
cli cli_verify src1 dst7 verify
log "4b/5 lost state: the CLI's state file deleted, a rerun over the complete destination"
rm -f "$WORK"/state/cli-src1-dst7.sqlite*
cli cli_lost src1 dst7
verify mailmigrate-cli-lost src1 dst7 || { FAILED=1; echo "  THE LOST-STATE RERUN IS NOT EXACT" >&2; }
python3 - "$RES/cli.time" "$RES/cli_lost.time" <<'EOF' | tee "$RES/lost.txt"
import re, sys
def wall(path):
    t = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (.*)", open(path).read()).group(1)
    secs = 0.0
    for part in t.strip().split(":"):
        secs = secs * 60 + float(part)
    return secs
full, lost = wall(sys.argv[1]), wall(sys.argv[2])
print("  lost-state rerun %.2f s against the first copy's %.2f s: %.2fx" % (lost, full, lost / full))
EOF
for step in cli cli_noop cli_incr cli_verify cli_lost; do
  [ "$(cat "$RES/$step.rc")" = 0 ] || { FAILED=1; echo "  the CLI's $step exited $(cat "$RES/$step.rc")" >&2; }
done

log "5/5 peak RSS at $N_SMALL messages: src2 -> dst4 (mailmigrate), src2 -> dst5 (mbsync)"
ours ours_small src2 dst4
mbsync_run mbsync_small src2 dst5
echo "$N_SMALL" > "$RES/mbsync_small.count"

python3 "$HERE/report.py" "$RES" | tee "$RES/table.txt"
echo
echo "raw figures: $RES"
exit $FAILED
