# SPDX-License-Identifier: MIT
"""What the recording stand-ins of the providers' CLIs share (tests only).

A stand-in keeps the simulated service in cloud.json next to itself (not in the
environment: cdnallow runs commands with a clean one), appends every call to calls.jsonl
({"argv": [...], "stdin": "..."}), and takes injected answers from faults.json:
{"OPERATION": [FAULT, ...]}, one FAULT popped per call of that operation, null meaning
"answer normally". A FAULT is an error code, or {"code": CODE, ...} with extra effects the
stand-in applies before failing (a concurrent writer, for instance).
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.realpath(sys.argv[0]))


def path(name):
    return os.path.join(HERE, name)


def load():
    with open(path("cloud.json")) as f:
        return json.load(f)


def save(cloud):
    with open(path("cloud.json.tmp"), "w") as f:
        json.dump(cloud, f, indent=1, sort_keys=True)
    os.rename(path("cloud.json.tmp"), path("cloud.json"))


def record(stdin=None):
    with open(path("calls.jsonl"), "a") as f:
        f.write(json.dumps({"argv": sys.argv[1:], "stdin": stdin}) + "\n")


def fault(op):
    """The injected answer for this call of op: None (normal) or a dict with "code"."""
    try:
        with open(path("faults.json")) as f:
            faults = json.load(f)
    except FileNotFoundError:
        return None
    queue = faults.get(op) or []
    if not queue:
        return None
    f = queue.pop(0)
    faults[op] = queue
    with open(path("faults.json"), "w") as out:
        json.dump(faults, out)
    if f is None:
        return None
    return f if isinstance(f, dict) else {"code": f}


def options(words, spec, positional=0):
    """Parse --name value / --flag words strictly against spec {name: "value"|"flag"};
    returns ({name: value}, [positional...]) or exits 252 like a CLI refusing its usage."""
    opts, pos = {}, []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--"):
            name, eq, val = w[2:].partition("=")
            kind = spec.get(name)
            if kind is None:
                usage("unknown option --%s" % name)
            if kind == "flag":
                opts[name] = True
            else:
                if not eq:
                    i += 1
                    if i >= len(words):
                        usage("--%s needs a value" % name)
                    val = words[i]
                if name in opts:
                    usage("--%s given twice" % name)
                opts[name] = val
        else:
            pos.append(w)
        i += 1
    if len(pos) != positional:
        usage("expected %d positional arguments, got %r" % (positional, pos))
    return opts, pos


def usage(msg):
    sys.stderr.write("usage error: %s\n" % msg)
    sys.exit(252)
