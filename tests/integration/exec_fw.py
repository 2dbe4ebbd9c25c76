#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A firewall the exec backend can drive, for tests/integration/exec_backend.sh.

  exec_fw.py apply DIR   read the document on stdin, check it against the version 1 schema
                         (exit 99 with the reason when it does not match), record it as
                         DIR/doc.N.json, make DIR/held the wanted list and print a new token
  exec_fw.py read DIR    print DIR/held (what "the firewall" holds), one CIDR a line

Both record their environment and open descriptors in DIR/seen.MODE.json. DIR/mode, when
present, makes apply misbehave: "fail" (exit 1 after a message on stderr, nothing changed),
"garbage" (change it, then print two lines as the token), "hang" (start a grandchild that
ignores SIGTERM, write its pid to DIR/grandchild.pid, then sleep), "noread" (never read
stdin, change nothing, print a token), "lie" (exit 0 but hold something else),
"echo" (copy stdin to stderr while reading it: both pipes busy at once).
"""
import ipaddress
import json
import os
import subprocess
import sys

FAMILIES = ("ipv4", "ipv6")


def fail(why):
    sys.stderr.write("exec_fw: schema: %s\n" % why)
    sys.exit(99)


def cidr_list(doc, key, fam):
    v = doc[key][fam]
    if not isinstance(v, list):
        fail("%s.%s is not a list" % (key, fam))
    out = []
    for c in v:
        n = ipaddress.ip_network(c)  # strict: host bits set raise
        if str(n) != c or n.version != (4 if fam == "ipv4" else 6):
            fail("%s.%s: %r is not a canonical %s prefix" % (key, fam, c, fam))
        out.append(n)
    if out != sorted(out):
        fail("%s.%s is not sorted" % (key, fam))
    return out


def check(doc):
    """The version 1 schema, exactly: the keys, their types, canonical sorted CIDRs."""
    want = {"version", "target", "dry_run", "state", "want", "added", "removed", "sources_of"}
    if set(doc) != want:
        fail("keys %s" % sorted(doc))
    if doc["version"] != 1 or doc["dry_run"] is not False:
        fail("version/dry_run")
    if not isinstance(doc["target"], str) or not isinstance(doc["state"], str):
        fail("target/state")
    lists = {}
    for key in ("want", "added", "removed"):
        if not isinstance(doc[key], dict) or set(doc[key]) != set(FAMILIES):
            fail("%s is not {ipv4, ipv6}" % key)
        lists[key] = {f: cidr_list(doc, key, f) for f in FAMILIES}
    for f in FAMILIES:
        if not set(lists["added"][f]) <= set(lists["want"][f]):
            fail("added not in want")
        if set(lists["removed"][f]) & set(lists["want"][f]):
            fail("removed in want")
    every = {str(n) for f in FAMILIES for n in lists["want"][f]}
    if not isinstance(doc["sources_of"], dict) or not set(doc["sources_of"]) <= every:
        fail("sources_of")
    return lists


def seen(d, mode):
    fds = sorted(int(x) for x in os.listdir("/proc/self/fd"))
    with open(os.path.join(d, "seen.%s.json" % mode), "w") as f:
        json.dump({"env": dict(os.environ), "fds": fds}, f)


def count(d):
    n = 0
    while os.path.exists(os.path.join(d, "doc.%d.json" % (n + 1))):
        n += 1
    return n


def apply(d):
    mode = ""
    if os.path.exists(os.path.join(d, "mode")):
        mode = open(os.path.join(d, "mode")).read().strip()
    seen(d, "apply")
    if mode == "noread":
        print("noread-token")
        return 0
    if mode == "hang":
        subprocess.Popen(["sh", "-c", "trap '' TERM; echo $$ >%s/grandchild.pid; "
                          "exec sleep 300" % d])
        os.system("sleep 300")
        return 0
    raw = b""
    while True:
        chunk = sys.stdin.buffer.read(65536)
        if not chunk:
            break
        raw += chunk
        if mode == "echo":
            sys.stderr.buffer.write(chunk)
    n = count(d) + 1
    with open(os.path.join(d, "doc.%d.json" % n), "wb") as f:
        f.write(raw)
    lists = check(json.loads(raw))
    if mode == "fail":
        sys.stderr.write("exec_fw: first line\nexec_fw: simulated failure, nothing changed\n")
        return 1
    held = [str(c) for f in FAMILIES for c in lists["want"][f]]
    if mode == "lie":
        held = held[1:]
    with open(os.path.join(d, "held.tmp"), "w") as f:
        f.write("".join(c + "\n" for c in held))
    os.rename(os.path.join(d, "held.tmp"), os.path.join(d, "held"))
    if mode == "garbage":
        print("gen-%d\nsecond line" % n)
    else:
        print("gen-%d" % n)
    return 0


def read(d):
    seen(d, "read")
    p = os.path.join(d, "held")
    if os.path.exists(p):
        sys.stdout.write("# what the firewall holds\n" + open(p).read())
    return 0


if __name__ == "__main__":
    sys.exit({"apply": apply, "read": read}[sys.argv[1]](sys.argv[2]))
