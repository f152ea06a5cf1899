#!/usr/bin/env python3
"""Seeds, wipes, counts and compares IMAP mailboxes for the kill test (stdlib only).

It talks to the server with imaplib alone, so its verdict owes nothing to mailmigrate.

usage:
  imap_corpus.py HOST PORT wipe USER...            empty INBOX and the special-use folders,
                                                   delete every other folder
  imap_corpus.py HOST PORT seed USER SEED TOTAL    write the corpus (about TOTAL messages,
                                                   deterministic from SEED) into USER
  imap_corpus.py HOST PORT count USER              print how many messages USER holds
  imap_corpus.py HOST PORT touch USER ROUND        toggle \\Flagged on one copy of every
                                                   twin group (the ROUND-th) and on a few
                                                   other messages (chosen by ROUND)
  imap_corpus.py HOST PORT compare SOURCE DEST [STATE]
                                                   compare every folder; exit 0 when equal,
                                                   1 with a diff on stdout otherwise (with
                                                   the job's ledger rows of each differing
                                                   message when STATE is given)

The password is read from IMAP_CORPUS_PASSWORD. Folder names are compared as the server
sends them (modified UTF-7); both users live on the same server, so equal names are equal
folders. A folder's content is the multiset of (sha256 of the RFC822 bytes, sorted flags and
keywords without \\Recent, INTERNALDATE as a UTC instant).
"""

import base64
import calendar
import collections
import hashlib
import imaplib
import os
import random
import re
import sqlite3
import sys
import time

PROTECTED = {"INBOX", "SENT", "DRAFTS", "TRASH"}
SPECIAL_USE = {b"\\sent", b"\\drafts", b"\\trash", b"\\junk", b"\\archive", b"\\all", b"\\flagged"}
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
ZONES = ["+0000", "+0200", "-0500", "+0530", "-0800", "+0100"]
FLAG_ODDS = [
    ("\\Seen", 0.6),
    ("\\Flagged", 0.15),
    ("\\Answered", 0.15),
    ("\\Draft", 0.05),
    ("$Label1", 0.12),
    ("Projekt-X", 0.08),
]

# (display name, share of the messages); parents come before their children.
FOLDERS = [
    ("INBOX", 0.30),
    ("Sent", 0.10),
    ("Archive", 0.10),
    ("Archive/2019", 0.12),
    ("Archive/2019/Q1", 0.08),
    ("Projekte", 0.05),
    ("Projekte/Überweisungen", 0.10),
    ("Entwürfe & Notizen", 0.08),
    ("日本語", 0.07),
    ("Leer", 0.0),
]
TWIN_FOLDER = "INBOX"
LARGE_MESSAGES = 6
LARGE_SIZE = 200 * 1024


# ---------------------------------------------------------------- names and connections


def mutf7_encode(name):
    """RFC 3501 modified UTF-7."""
    out, run = [], []

    def flush():
        if run:
            b64 = base64.b64encode("".join(run).encode("utf-16-be")).decode()
            out.append("&" + b64.rstrip("=").replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(name):
    def one(m):
        text = m.group(1)
        if not text:
            return "&"
        text = text.replace(",", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4)).decode("utf-16-be")

    return re.sub(r"&([^-]*)-", one, name)


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(host, port, user):
    conn = imaplib.IMAP4(host, int(port))
    conn.login(user, os.environ["IMAP_CORPUS_PASSWORD"])
    return conn


def check(result, what):
    typ, data = result
    if typ != "OK":
        raise SystemExit("%s failed: %s %r" % (what, typ, data))
    return data


FETCH_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
FETCH_DATE = re.compile(rb'INTERNALDATE "([^"]+)"')
SUBJECT = re.compile(rb"^Subject: (.*?)\r?$", re.M | re.I)
UID = re.compile(rb"UID (\d+)")
LIST_LINE = re.compile(rb'\((?P<attrs>[^)]*)\) (?P<sep>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')


def unquote(raw):
    if raw.startswith(b'"') and raw.endswith(b'"'):
        raw = re.sub(rb"\\(.)", rb"\1", raw[1:-1])
    return raw.decode("ascii")


def list_folders(conn):
    """[(wire name, separator, lower-cased attributes)] of every folder."""
    out = []
    for item in check(conn.list('""', "*"), "LIST"):
        if item is None:
            continue
        if isinstance(item, tuple):  # a name sent as a literal
            head, name = item[0], item[1]
        else:
            head, name = item, None
        m = LIST_LINE.match(head.strip())
        if not m:
            raise SystemExit("cannot parse LIST line %r" % (item,))
        sep = m.group("sep").strip(b'"').decode() if m.group("sep") != b"NIL" else "/"
        wire = name.decode("ascii") if name is not None else unquote(m.group("name"))
        attrs = {a.lower() for a in m.group("attrs").split()}
        out.append((wire, sep, attrs))
    return out


def selectable(attrs):
    return not attrs & {b"\\noselect", b"\\nonexistent"}


# ---------------------------------------------------------------- wipe


def wipe_user(host, port, user):
    conn = connect(host, port, user)
    folders = list_folders(conn)
    for wire, sep, attrs in sorted(folders, key=lambda f: -f[0].count(f[1])):
        # The server's own special-use folders stay (emptied); those other test suites
        # left behind (mm-test-*) go like any other.
        leftover = wire.startswith("mm-test-")
        keep = wire.upper() in PROTECTED or (attrs & SPECIAL_USE and not leftover)
        if keep and selectable(attrs):
            empty_folder(conn, wire)
        elif not keep:
            typ, data = conn.delete(quote(wire))
            if typ != "OK" and attrs & SPECIAL_USE:
                # Cyrus refuses to delete a folder with a special use (SPECIAL-USE flag
                # conflict) until the use is removed (RFC 6154 over RFC 5464 METADATA).
                imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
                conn._simple_command("SETMETADATA", quote(wire), "(/private/specialuse NIL)")
                typ, data = conn.delete(quote(wire))
            if typ != "OK" and selectable(attrs):
                raise SystemExit("%s: DELETE %s failed: %r" % (user, wire, data))
    left = [(w, a) for w, _, a in list_folders(conn) if selectable(a)]
    for wire, _ in left:
        if message_count(conn, wire):
            raise SystemExit("%s: %s is not empty after the wipe" % (user, wire))
    conn.logout()


def empty_folder(conn, wire):
    exists = int(check(conn.select(quote(wire)), "SELECT " + wire)[0])
    if exists:
        check(conn.store("1:*", "+FLAGS.SILENT", "(\\Deleted)"), "STORE " + wire)
        check(conn.expunge(), "EXPUNGE " + wire)
    conn.close()


def message_count(conn, wire):
    data = check(conn.status(quote(wire), "(MESSAGES)"), "STATUS " + wire)
    return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))


def count_user(host, port, user):
    conn = connect(host, port, user)
    total = sum(message_count(conn, w) for w, _, a in list_folders(conn) if selectable(a))
    conn.logout()
    print(total)


# ---------------------------------------------------------------- the corpus


def imap_date(rng):
    t = time.gmtime(rng.randrange(1104537600, 1735689600))  # 2005..2024
    zone = rng.choice(ZONES)
    return "%02d-%s-%04d %02d:%02d:%02d %s" % (
        t.tm_mday, MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec, zone)


def header_date(imap):
    day, mon, rest = imap.split("-", 2)
    year, clock, zone = rest.split(" ")
    return "%d %s %s %s %s" % (int(day), mon, year, clock, zone)


def random_flags(rng):
    return [f for f, odds in FLAG_ODDS if rng.random() < odds]


WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
         "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]


def body_text(rng, size):
    lines, length = [], 0
    while length < size:
        line = "%06x " % rng.getrandbits(24) + " ".join(rng.sample(WORDS, 9))
        lines.append(line)
        length += len(line) + 2
    return "\r\n".join(lines)


def message(rng, seed, subject, size, with_message_id):
    """A 7-bit message with CRLF line ends."""
    headers = [
        "From: Sender %d <sender%d@example.org>" % (rng.randrange(50), rng.randrange(50)),
        "To: Kill Test <mm@example.net>",
        "Subject: %s" % subject,
        "Date: %s" % header_date(imap_date(rng)),
    ]
    if with_message_id:
        headers.append("Message-ID: <%s.%s@kill.test>" % (subject, seed))
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii"]
    return ("\r\n".join(headers) + "\r\n\r\n" + body_text(rng, size) + "\r\n").encode("ascii")


def corpus(seed, total):
    """{display folder: [(bytes, flags, internaldate)]}, deterministic from seed and total."""
    rng = random.Random(seed)
    out = collections.OrderedDict((name, []) for name, _ in FOLDERS)
    for idx, (name, share) in enumerate(FOLDERS):
        for i in range(int(total * share)):
            size = rng.choice([300, 800, 1500, 3000, 6000])
            body = message(rng, seed, "f%d-m%d" % (idx, i), size, rng.random() < 0.8)
            out[name].append((body, random_flags(rng), imap_date(rng)))
    add_large(rng, seed, out)
    add_twins(rng, seed, out)
    add_cross_folder_copies(rng, out)
    for messages in out.values():
        rng.shuffle(messages)
    spread_twins(out[TWIN_FOLDER])
    return out


def spread_twins(messages):
    """Puts the copies of each twin group far apart (about half the folder), so that they
    travel in different MULTIAPPEND groups."""
    counts = collections.Counter(body for body, _, _ in messages)
    twins = [m for m in messages if counts[m[0]] > 1]
    rest = [m for m in messages if counts[m[0]] == 1]
    groups = collections.OrderedDict()
    for m in twins:
        groups.setdefault(m[0], []).append(m)
    placed = []
    for g, copies in enumerate(groups.values()):
        for c, m in enumerate(copies):
            placed.append((c * len(messages) // len(copies) + g * 7, m))
    for at, m in sorted(placed, key=lambda p: p[0]):
        rest.insert(min(at, len(rest)), m)
    messages[:] = rest


def add_large(rng, seed, out):
    names = [n for n, share in FOLDERS if share]
    for i in range(LARGE_MESSAGES):
        body = message(rng, seed, "large-%d" % i, LARGE_SIZE, i % 2 == 0)
        out[names[i % len(names)]].append((body, random_flags(rng), imap_date(rng)))


def add_twins(rng, seed, out):
    """Byte-identical copies in one folder, each with its own flags and date."""
    twins = out[TWIN_FOLDER]
    for i in range(6):
        size = LARGE_SIZE if i == 0 else 1200
        body = message(rng, seed, "twin-%d" % i, size, i % 2 == 0)
        copies = 3 if i == 1 else 2
        seen = set()
        for c in range(copies):
            flags = twin_flags(rng, c, seen)
            twins.append((body, flags, imap_date(rng)))


def twin_flags(rng, copy, seen):
    """Flags no other copy of the same twin has."""
    while True:
        flags = random_flags(rng)
        if copy == 0 and not flags:
            flags = ["\\Seen"]
        key = tuple(sorted(flags))
        if key not in seen:
            seen.add(key)
            return flags


def add_cross_folder_copies(rng, out):
    """The same bytes in two folders (a message filed twice)."""
    inbox = out["INBOX"]
    for target in ("Archive", "日本語"):
        for body, _, _ in inbox[:5]:
            out[target].append((body, random_flags(rng), imap_date(rng)))


def seed_user(host, port, user, seed, total):
    conn = connect(host, port, user)
    caps = {c.upper() for c in check(conn.capability(), "CAPABILITY")[0].decode().split()}
    multi = "MULTIAPPEND" in caps and "LITERAL+" in caps
    existing = {w for w, _, _ in list_folders(conn)}
    content = corpus(seed, total)
    for name, messages in content.items():
        wire = mutf7_encode(name)
        if wire not in existing and wire.upper() != "INBOX":
            check(conn.create(quote(wire)), "CREATE " + wire)
            conn.subscribe(quote(wire))
        if multi:
            multiappend(conn, wire, messages)
        else:
            for body, flags, date in messages:
                check(conn.append(quote(wire), "(%s)" % " ".join(flags), '"%s"' % date, body),
                      "APPEND " + wire)
    conn.logout()
    messages = [m for folder in content.values() for m in folder]
    print("seeded %d messages, %d bytes" % (len(messages), sum(len(m[0]) for m in messages)))


def multiappend(conn, wire, messages, group=50):
    for start in range(0, len(messages), group):
        tag = b"S%04d" % (start // group)
        parts = [tag + b" APPEND " + quote(wire).encode()]
        for body, flags, date in messages[start:start + group]:
            parts.append(b' (%s) "%s" {%d+}\r\n' % (" ".join(flags).encode(), date.encode(),
                                                   len(body)))
            parts.append(body)
        parts.append(b"\r\n")
        conn.send(b"".join(parts))
        while True:
            line = conn.readline()
            if not line:
                raise SystemExit("connection closed during APPEND to %s" % wire)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise SystemExit("APPEND to %s failed: %r" % (wire, line))
                break


# ---------------------------------------------------------------- touch

def touch_user(host, port, user, round_):
    """Changes flags at the source, so that the next pass has to carry them to the right copies."""
    conn = connect(host, port, user)
    rng = random.Random(round_)
    touched = 0
    for wire, _, attrs in list_folders(conn):
        if selectable(attrs):
            touched += touch_folder(conn, wire, rng, round_)
    conn.logout()
    print("touched %d messages" % touched)


def touch_folder(conn, wire, rng, round_):
    exists = int(check(conn.select(quote(wire)), "SELECT " + wire)[0])
    if not exists:
        conn.close()
        return 0
    data = check(conn.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
                 "FETCH " + wire)
    flagged, twins, chosen = {}, collections.defaultdict(list), []
    for meta, header in fetch_records(data):
        uid = int(UID.search(meta).group(1))
        flagged[uid] = b"\\flagged" in FETCH_FLAGS.search(meta).group(1).lower()
        subject = SUBJECT.search(header)
        if subject and subject.group(1).startswith(b"twin-"):
            twins[subject.group(1)].append(uid)
        elif rng.random() < 0.03:
            chosen.append(uid)
    chosen += [sorted(uids)[round_ % len(uids)] for uids in twins.values()]
    for uid in chosen:
        change = "-FLAGS.SILENT" if flagged[uid] else "+FLAGS.SILENT"
        check(conn.uid("STORE", str(uid), change, "(\\Flagged)"), "STORE " + wire)
    conn.close()
    return len(chosen)


# ---------------------------------------------------------------- compare

def utc_instant(date):
    t = time.strptime(date.decode()[:20].strip(), "%d-%b-%Y %H:%M:%S")
    zone = date.decode()[-5:]
    offset = (int(zone[1:3]) * 60 + int(zone[3:])) * 60 * (1 if zone[0] == "+" else -1)
    stamp = calendar.timegm(t) - offset
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def fetch_records(data):
    """[(head + tail bytes, body)] from an imaplib FETCH answer."""
    records = []
    for item in data:
        if isinstance(item, tuple):
            records.append([item[0], item[1]])
        elif item and records and item[:1] in (b" ", b")"):
            records[-1][0] += item
    return records


class Folder:
    """One folder's content: the multiset of entries, and the UIDs holding each entry."""

    def __init__(self):
        self.content = collections.Counter()
        self.uids = collections.defaultdict(list)

    def add(self, entry, uid):
        self.content[entry] += 1
        self.uids[entry].append(uid)


def folder_content(conn, wire, subjects):
    typ, data = conn.select(quote(wire), readonly=True)
    if typ != "OK":
        raise SystemExit("EXAMINE %s failed: %r" % (wire, data))
    folder = Folder()
    if int(data[0]):
        data = check(conn.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])"),
                     "FETCH " + wire)
        for meta, body in fetch_records(data):
            flags = sorted(f.decode() for f in FETCH_FLAGS.search(meta).group(1).split()
                           if f.lower() != b"\\recent")
            digest = hashlib.sha256(body).hexdigest()
            subject = SUBJECT.search(body)
            subjects[digest] = subject.group(1).decode() if subject else "(no subject)"
            date = utc_instant(FETCH_DATE.search(meta).group(1))
            folder.add((digest, " ".join(flags), date), int(UID.search(meta).group(1)))
    conn.close()
    return folder


def snapshot(host, port, user, subjects):
    """Every folder's content, except the IMAP backend's fidelity-probe mailboxes: a process
    killed while probing leaves one behind, which the next probe deletes once it is stale."""
    conn = connect(host, port, user)
    out = {w: folder_content(conn, w, subjects) for w, _, a in list_folders(conn)
           if selectable(a) and not w.startswith("mailmigrate-probe-")}
    conn.logout()
    return out


class Ledger:
    """The job's state file, read only to explain a difference (never to decide one)."""

    def __init__(self, path):
        exists = path and os.path.exists(path)
        self.db = sqlite3.connect("file:%s?mode=ro" % path, uri=True) if exists else None

    def rows(self, side, folder, uids):
        if self.db is None:
            return []
        try:
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(ledger)")}
            date = "internal_date" if "internal_date" in columns else "NULL"
            out = []
            for uid in uids:
                out += self.db.execute(
                    "SELECT src_id, dest_id, CASE state WHEN 1 THEN 'done' ELSE 'pending' END,"
                    " flags, %s FROM ledger WHERE %s_folder = ? AND %s_id LIKE ?"
                    % (date, side, side), (folder, "%%:%d" % uid)).fetchall()
        except sqlite3.Error as e:
            return ["      ledger: unreadable (%s)" % e]
        return ["      ledger: source %s -> destination %s, %s, flags %s, date %s"
                % (src, dst, state, flags, ledger_date(written))
                for src, dst, state, flags, written in out]


def ledger_date(stamp):
    if stamp is None:
        return "not recorded"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


def describe(entry, count, uids, subjects):
    digest, flags, date = entry
    times = " x%d" % count if count > 1 else ""
    return "%s [%s] %s sha256:%s uid %s%s" % (
        subjects.get(digest, "?"), flags, date, digest[:12], ",".join(map(str, uids)), times)


def diff_folder(name, src, dst, subjects, ledger):
    missing, extra = src.content - dst.content, dst.content - src.content
    if not missing and not extra:
        return []
    lines = ["folder %s: %d missing, %d extra" % (mutf7_decode(name), sum(missing.values()),
                                                  sum(extra.values()))]
    for e, n in sorted(missing.items()):
        lines.append("  missing %s" % describe(e, n, src.uids[e], subjects))
        lines += ledger.rows("src", name, src.uids[e])
    for e, n in sorted(extra.items()):
        lines.append("  extra   %s" % describe(e, n, dst.uids[e], subjects))
        lines += ledger.rows("dest", name, dst.uids[e])
    return lines


def duplicates(src, dst):
    """Copies of the same bytes the destination holds more often than the source."""
    def by_bytes(folder):
        out = collections.Counter()
        for (digest, _, _), n in folder.content.items():
            out[digest] += n
        return out
    return by_bytes(dst) - by_bytes(src)


def compare(host, port, source, dest, ledger_path=None):
    """Source UIDs are listed with missing entries, destination UIDs with extra ones, each
    followed by the ledger's rows for it when a state file is given."""
    subjects, ledger = {}, Ledger(ledger_path)
    src = snapshot(host, port, source, subjects)
    dst = snapshot(host, port, dest, subjects)
    lines, dups = [], 0
    for name in sorted(set(src) | set(dst)):
        if name in src and name not in dst:
            lines.append("folder %s: missing at the destination" % mutf7_decode(name))
        s, d = src.get(name, Folder()), dst.get(name, Folder())
        lines += diff_folder(name, s, d, subjects, ledger)
        dups += sum(duplicates(s, d).values())
    messages = sum(sum(f.content.values()) for f in src.values())
    if lines:
        print("\n".join(lines))
        print("compare: DIFFERENT (%d folders, %d source messages, %d duplicate copies)"
              % (len(src), messages, dups))
        return 1
    print("compare: equal (%d folders, %d messages, no duplicates)" % (len(src), messages))
    return 0


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    host, port, command, args = argv[1], argv[2], argv[3], argv[4:]
    if command == "wipe":
        for user in args:
            wipe_user(host, port, user)
    elif command == "seed":
        seed_user(host, port, args[0], int(args[1]), int(args[2]))
    elif command == "count":
        count_user(host, port, args[0])
    elif command == "touch":
        touch_user(host, port, args[0], int(args[1]))
    elif command == "compare":
        return compare(host, port, args[0], args[1], *args[2:3])
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
