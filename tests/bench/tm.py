#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Time one command like /usr/bin/time -f '%e %U %S %M', with microsecond resolution.

  tm.py RESULT_FILE STDOUT_FILE STDERR_FILE -- COMMAND [ARG...]

Appends "wall user sys maxrss_kib status" (seconds; status = exit code, or -signal) to
RESULT_FILE and exits with the command's status. Wall time is taken around fork+wait4 only.
"""

import os
import sys
import time


def main():
    if len(sys.argv) < 6 or sys.argv[4] != "--":
        sys.exit("usage: tm.py RESULT STDOUT STDERR -- COMMAND [ARG...]")
    res, out, err, argv = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[5:]
    fo = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    fe = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.dup2(fo, 1)
        os.dup2(fe, 2)
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            os.write(2, ("tm.py: %s: %s\n" % (argv[0], e)).encode())
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    with open(res, "a") as f:
        f.write("%.6f %.6f %.6f %d %d\n" % (wall, ru.ru_utime, ru.ru_stime, ru.ru_maxrss, code))
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
