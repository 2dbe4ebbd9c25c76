#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TCP connection prober for the traffic tests. Python 3 stdlib only.

probe.py once HOST PORT [TIMEOUT]
    One connection; prints ok, refused, timeout or error:<why>; exit 0 only for ok.
probe.py loop STOPFILE OUTFILE [--timeout S] HOST:PORT...
    Connect to each target in turn, again and again, until STOPFILE exists; then write
    "ok=N refused=N timeout=N error=N" to OUTFILE (IPv6 hosts in brackets: [2001:db8::1]:443).
Each connection sends an HTTP request and waits for the status line, so a connection that is
accepted but then stalls counts as a timeout.
"""
import os
import socket
import sys
import time


def one(host, port, timeout):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(b"HEAD / HTTP/1.0\r\nHost: probe\r\n\r\n")
        if not s.recv(12).startswith(b"HTTP/"):
            return "error:no-http-answer"
        return "ok"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "timeout"
    except OSError as e:
        return "error:%s" % (e.strerror or e)
    finally:
        s.close()


def target(t):
    if t.startswith("["):
        host, _, port = t[1:].partition("]:")
    else:
        host, _, port = t.rpartition(":")
    return host, int(port)


def main():
    if sys.argv[1] == "once":
        timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 2.0
        r = one(sys.argv[2], int(sys.argv[3]), timeout)
        print(r)
        return 0 if r == "ok" else 1
    stop, out = sys.argv[2], sys.argv[3]
    args = sys.argv[4:]
    timeout = 2.0
    if args and args[0] == "--timeout":
        timeout = float(args[1])
        args = args[2:]
    targets = [target(t) for t in args]
    counts = {"ok": 0, "refused": 0, "timeout": 0, "error": 0}
    fails = []
    while not os.path.exists(stop):
        for host, port in targets:
            r = one(host, port, timeout)
            k = r.split(":")[0]
            counts[k] += 1
            if k != "ok" and len(fails) < 10:
                fails.append("%s %s:%d %s" % (time.strftime("%T"), host, port, r))
        time.sleep(0.002)
    with open(out + ".tmp", "w") as f:
        f.write("ok=%(ok)d refused=%(refused)d timeout=%(timeout)d error=%(error)d\n" % counts)
        for l in fails:
            f.write("# %s\n" % l)
    os.rename(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
