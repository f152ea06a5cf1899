#!/usr/bin/env python3
"""Print the IMAP benchmark's table from the files run.sh leaves in RESULTS_DIR.

  report.py RESULTS_DIR
  report.py --pick-best RESULTS_DIR NAME...   (NAME.* := the fastest of NAME-r1.*, NAME-r2.*, ...)

Per step NAME, run.sh writes NAME.time (`/usr/bin/time -v` of the process) and, when the
tool prints one, NAME.json (its own figures). Throughput uses the messages and bytes of the
migrated corpus (the figures the engine reports for its full pass, which verify.py checked
against the source), so every tool is divided by the same amount of work.
Python 3 standard library only.
"""
import json, os, re, shutil, sys


def timev(path):
    """Wall seconds, CPU seconds (user+sys) and peak RSS (KB) from `/usr/bin/time -v`."""
    out = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        k, _, v = line.strip().rpartition(": ")
        if k == "User time (seconds)":
            out["user"] = float(v)
        elif k == "System time (seconds)":
            out["sys"] = float(v)
        elif k.startswith("Elapsed (wall clock) time"):
            secs = 0.0
            for part in v.split(":"):
                secs = secs * 60 + float(part)
            out["wall"] = secs
        elif k == "Maximum resident set size (kbytes)":
            out["rss_kb"] = int(v)
    out["cpu"] = out.get("user", 0.0) + out.get("sys", 0.0)
    return out


def load(res, name):
    t = os.path.join(res, name + ".time")
    if not os.path.exists(t):
        return None
    r = timev(t)
    j = os.path.join(res, name + ".json")
    if os.path.exists(j):
        with open(j, encoding="utf-8") as f:
            lines = [l for l in f.read().splitlines() if l.startswith("{")]
        if lines:
            r["tool"] = json.loads(lines[-1])
    return r


def cli_moved(res, name):
    """What the migrate CLI reported doing, from its report (RES/NAME.out)."""
    path = os.path.join(res, name + ".out")
    if not os.path.exists(path):
        return "-"
    text = open(path, encoding="utf-8", errors="replace").read()
    m = re.search(r"^Total: copied (\d+) messages .*?, (\d+) flag updates", text, re.M)
    if m:
        moved = "copied %s, flags updated %s" % m.groups()
    elif re.search(r"^Nothing to do", text, re.M):
        moved = "copied 0, flags updated 0"
    else:
        moved = "-"
    verdict = re.search(r"^Result: .*\(exit (\d+)\)", text, re.M)
    return moved + ("; exit %s" % verdict.group(1) if verdict else "")


def hyperfine_rows(res):
    """Mean ± sd and min of each command of RES/noop-hyperfine.json, if hyperfine ran."""
    path = os.path.join(res, "noop-hyperfine.json")
    if not os.path.exists(path):
        return []
    rows = []
    for r in json.load(open(path, encoding="utf-8"))["results"]:
        rows.append((r["command"], r["mean"], r.get("stddev") or 0.0, r["min"], len(r["times"])))
    return rows


def pick_best(res, names):
    """Copy each NAME's fastest round (NAME-rK.*) to NAME.* and list every round's wall time."""
    lines = []
    for name in names:
        rounds = []
        for fn in sorted(os.listdir(res)):
            if fn.startswith(name + "-r") and fn.endswith(".time"):
                rounds.append((timev(os.path.join(res, fn))["wall"], fn[:-len(".time")]))
        if not rounds:
            continue
        best = min(rounds)[1]
        for ext in (".time", ".json"):
            if os.path.exists(os.path.join(res, best + ext)):
                shutil.copyfile(os.path.join(res, best + ext), os.path.join(res, name + ext))
        lines.append("%s rounds: %s s (best used)" % (name, " / ".join("%.2f" % w for w, _ in rounds)))
    with open(os.path.join(res, "rounds.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    if sys.argv[1] == "--pick-best":
        pick_best(sys.argv[2], sys.argv[3:])
        return
    res = sys.argv[1]
    ours = load(res, "ours")
    mb = load(res, "mbsync")
    floor = load(res, "floor")
    if not ours or "tool" not in ours:
        sys.exit("no result for the mailmigrate pass in " + res)
    msgs, nbytes = ours["tool"]["copied"], ours["tool"]["bytes"]

    def rate(r):
        return msgs / r["wall"], nbytes / r["wall"] / 1e6

    print("\nFull migration of %d messages (%.1f MB) over loopback, Dovecot to Dovecot" % (msgs, nbytes / 1e6))
    hdr = "%-26s %8s %9s %7s %7s %10s %9s %9s" % ("tool", "wall s", "msg/s", "MB/s", "CPU s", "peak RSS", "vs mbsync", "vs floor")
    print(hdr)
    print("-" * len(hdr))
    rows = [("physical floor (APPEND)", floor), ("mbsync (isync)", mb), ("mailmigrate", ours),
            ("migrate CLI (pass + check)", load(res, "cli"))]
    for label, r in rows:
        if not r:
            print("%-26s %s" % (label, "not measured"))
            continue
        mps, mbps = rate(r)
        vs_mb = "%.2fx" % (mb["wall"] / r["wall"]) if mb else "-"
        vs_floor = "%.2fx" % (floor["wall"] / r["wall"]) if floor else "-"
        print("%-26s %8.2f %9.0f %7.1f %7.2f %7.0f MB %9s %9s" % (
            label, r["wall"], mps, mbps, r["cpu"], r["rss_kb"] / 1024, vs_mb, vs_floor))
    rounds = os.path.join(res, "rounds.txt")
    if os.path.exists(rounds):
        print(open(rounds, encoding="utf-8").read().rstrip())
    print("(ratios are throughput ratios: >1 means faster than mbsync / than the floor;"
          " the floor appends from files already in memory and reads nothing)")

    print("\nLater passes (cost should follow the change, not the mailbox)")
    hdr = "%-34s %8s %8s %7s %10s  %s" % ("pass", "wall s", "run s", "CPU s", "peak RSS", "moved")
    print(hdr)
    print("-" * len(hdr))
    changes = {}
    cj = os.path.join(res, "changes.json")
    if os.path.exists(cj):
        changes = json.load(open(cj, encoding="utf-8"))
    for label, name in [("mailmigrate no-change pass", "noop"), ("migrate CLI no-change pass", "cli_noop"),
                        ("mbsync no-change pass", "mbsync_noop"),
                        ("mailmigrate incremental pass", "incr"), ("migrate CLI incremental pass", "cli_incr"),
                        ("mbsync incremental pass", "mbsync_incr"),
                        ("migrate verify (full comparison)", "cli_verify")]:
        r = load(res, name)
        if not r:
            continue
        t = r.get("tool")
        run_s = "%.3f" % t["run_s"] if t else "-"
        if t:
            moved = "copied %d, flags updated %d" % (t["copied"], t["flags_updated"])
        else:
            moved = cli_moved(res, name)
        print("%-34s %8.2f %8s %7.2f %7.0f MB  %s" % (label, r["wall"], run_s, r["cpu"], r["rss_kb"] / 1024, moved))
    if changes:
        print("(changes made at the source before the incremental pass: %d new messages, %d flag changes;"
              " run s = the engine pass alone, without process start and login)" % (
                  changes.get("new", 0), changes.get("changed", 0)))

    hf = hyperfine_rows(res)
    if hf:
        print("\nNo-change pass, repeated (hyperfine, whole process)")
        hdr = "%-26s %10s %10s %10s %6s" % ("tool", "mean s", "sd s", "min s", "runs")
        print(hdr)
        print("-" * len(hdr))
        for name, mean, sd, lo, n in hf:
            print("%-26s %10.3f %10.3f %10.3f %6d" % (name, mean, sd, lo, n))

    print("\nPeak RSS against mailbox size (the smaller corpus keeps the largest messages)")
    hdr = "%-26s %10s %10s %10s" % ("tool", "messages", "wall s", "peak RSS")
    print(hdr)
    print("-" * len(hdr))
    for label, small, big in [("mailmigrate", "ours_small", "ours"), ("mbsync", "mbsync_small", "mbsync")]:
        for name in (small, big):
            r = load(res, name)
            if not r:
                continue
            n = r["tool"]["copied"] if r.get("tool") else json.load(
                open(os.path.join(res, name + ".count"), encoding="utf-8"))
            print("%-26s %10d %10.2f %7.0f MB" % (label, n, r["wall"], r["rss_kb"] / 1024))

    verdicts = os.path.join(res, "verify.txt")
    if os.path.exists(verdicts):
        print("\nverify.py verdicts")
        print(open(verdicts, encoding="utf-8").read().rstrip())


if __name__ == "__main__":
    main()
