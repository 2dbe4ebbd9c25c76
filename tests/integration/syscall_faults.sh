#!/bin/sh
# SPDX-License-Identifier: MIT
# Fault injection at every system call (issue 13): a full sync into an nftables target (list
# over HTTPS) and into a file target (list over file://), with one system call failing at
# one of its calls per case (strace -f -e inject=SYSCALL:error=ERRNO:when=N), for the calls
# the run makes after main. Each case checks: no crash or sanitizer report, the target holds
# exactly the old or the new list, the state dir never runs ahead of it, a failed run exits
# non-zero with its cause, and the next clean run converges (tests/integration/faultcamp.py).
# FAULTS_CAP (default 8) bounds the calls tried per syscall and errno.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
command -v strace >/dev/null || prereq_missing "strace"
command -v python3 >/dev/null || prereq_missing "python3"
# LeakSanitizer cannot run under ptrace
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
CAMP="$CDNALLOW_SRC/tests/integration/faultcamp.py"

mkdir -p "$WORK/doc"
https_start "$WORK/doc"
for kind in nft file; do
	python3 "$CAMP" syscall --kind $kind --work "$WORK" --bin "$CDNALLOW" --base "$BASE" \
		--docroot "$WORK/doc" --ca "$CA" >"$WORK/camp.out" 2>&1
	rc=$?
	cat "$WORK/camp.out"
	if [ $rc = 0 ]; then
		ok "$kind target: every injected system call fault kept the four properties"
	else
		not_ok "$kind target: system call faults broke a property (exit $rc)"
	fi
done
finish
