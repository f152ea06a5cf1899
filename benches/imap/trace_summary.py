#!/usr/bin/env python3
"""Where did a plaintext IMAP client's wall time go? Reads an strace of its sends and receives.

  strace -f -qq -ttt -e trace=sendto,recvfrom -s 40 -o trace.txt \\
      imap_migrate --port 10243 --src src1 --dst dst2 --state /tmp/s.sqlite
  python3 benches/imap/trace_summary.py trace.txt

Prints the traced span, how many commands of each kind were sent, the total time the
client waited on `UID SEARCH` round trips (send to first reply on the same socket), and per
destination folder when its first and last APPEND went out: the folder that ends last is the
critical path. Only meaningful for plaintext connections (loopback benchmarks).
Python 3 standard library only.
"""
import collections, re, sys

LINE = re.compile(r'(\d+)\s+(\d+\.\d+) (sendto|recvfrom)\((\d+), "(.*)')
VERB = re.compile(r'(?:(?!UID )[A-Za-z0-9.]+ )?(UID (?:FETCH|SEARCH|STORE|EXPUNGE|COPY|MOVE)|SELECT|EXAMINE|APPEND|'
                  r'FETCH|SEARCH|STORE|LIST|LSUB|XLIST|CREATE|SUBSCRIBE|STATUS|NOOP|LOGIN|AUTHENTICATE|'
                  r'CAPABILITY|NAMESPACE|ENABLE|ID|GETACL|SETACL|MYRIGHTS|LOGOUT) ')
APPEND = re.compile(r'APPEND \\"((?:[^\\]|\\\\)*)\\"')


def main():
    first = last = None
    verbs = collections.Counter()
    waiting = {}  # fd -> send time of an outstanding SEARCH
    search_wait, searches = 0.0, 0
    spans = {}
    with open(sys.argv[1], errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            t, call, fd, data = float(m.group(2)), m.group(3), m.group(4), m.group(5)
            first = first if first is not None else t
            last = t
            if call == "sendto":
                v = VERB.match(data)
                if v:
                    verbs[v.group(1)] += 1
                if "SEARCH" in data:
                    waiting[fd] = t
                a = APPEND.match(data)
                if a:
                    s = spans.setdefault(a.group(1), [t, t, 0])
                    s[1] = t
                    s[2] += 1
            elif fd in waiting:
                search_wait += t - waiting.pop(fd)
                searches += 1
    if first is None:
        sys.exit("no sendto/recvfrom lines in " + sys.argv[1])
    print("traced span %.2f s" % (last - first))
    print("commands sent: " + ", ".join("%s %d" % kv for kv in verbs.most_common(8)))
    print("%d SEARCH round trips: %.2f s of waiting in total" % (searches, search_wait))
    print("APPEND commands per destination folder (first .. last send, seconds into the trace):")
    for name, (a, b, n) in sorted(spans.items(), key=lambda kv: kv[1][1]):
        print("  %-30s %6.2f .. %6.2f  (%d commands)" % (name, a - first, b - first, n))


if __name__ == "__main__":
    main()
