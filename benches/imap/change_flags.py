#!/usr/bin/env python3
"""Toggle \\Flagged on COUNT messages spread evenly over every folder of one account.

  change_flags.py --port 10243 --user src1 [--password benchpass] [--count 50]

Each chosen message gets \\Flagged added if it lacked it and removed if it had it, so every
touched message is a real flag change. Prints one JSON line: {"changed": N, "folders": F}.
Python 3 standard library only (imaplib).
"""
import argparse, imaplib, json, re

LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?:"(?:[^"\\]|\\.)"|NIL) (?P<name>.+)$')


def folders(imap):
    typ, lines = imap.list()
    assert typ == "OK", lines
    out = []
    for line in lines:
        if isinstance(line, tuple):  # name sent as a literal
            attrs, name = line[0], line[1]
            m = LIST_RE.match(attrs + b'""')
            attrs = m.group("attrs") if m else b""
        else:
            m = LIST_RE.match(line)
            if not m:
                continue
            attrs, name = m.group("attrs"), m.group("name")
            if name.startswith(b'"') and name.endswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        if b"\\noselect" in attrs.lower():
            continue
        out.append(name.decode("ascii"))
    return out


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=10143)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", default="benchpass")
    ap.add_argument("--count", type=int, default=50)
    a = ap.parse_args()
    imap = imaplib.IMAP4(a.host, a.port)
    imap.login(a.user, a.password)
    uids = []  # (folder, uid)
    for f in sorted(folders(imap)):
        typ, _ = imap.select(quote(f))
        if typ != "OK":
            continue
        typ, data = imap.uid("SEARCH", "ALL")
        uids.extend((f, u) for u in data[0].split())
    step = max(1, len(uids) // max(1, a.count))
    chosen = uids[::step][: a.count]
    by_folder = {}
    for f, u in chosen:
        by_folder.setdefault(f, []).append(u)
    changed = 0
    for f, us in by_folder.items():
        imap.select(quote(f))
        for u in us:
            typ, data = imap.uid("FETCH", u, "(FLAGS)")
            flagged = b"\\Flagged" in b" ".join(x if isinstance(x, bytes) else x[0] for x in data if x)
            typ, _ = imap.uid("STORE", u, "-FLAGS.SILENT" if flagged else "+FLAGS.SILENT", "(\\Flagged)")
            if typ == "OK":
                changed += 1
    imap.logout()
    print(json.dumps({"changed": changed, "folders": len(by_folder)}))


if __name__ == "__main__":
    main()
