#!/bin/sh
# SPDX-License-Identifier: MIT
# Allocation failure (issue 13): a full sync into an nftables target (list over HTTPS) and
# into a file target (list over file://) with the Nth memory allocation failing, for every N
# the run makes after main in the parent and in the fetch child (an LD_PRELOAD shim,
# tests/faultinj/allocfail.c; counted first in counting mode). The same checks as
# syscall_faults.sh: no crash, old or new list, the state dir never ahead of the target, a
# failure named, the next clean run converges (tests/integration/faultcamp.py). FAULTS_CAP
# (default 120) bounds the cases per process: above it, N strides evenly over the count.
# Plain build only (ASan replaces malloc).
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
command -v python3 >/dev/null || prereq_missing "python3"
[ -f "${CDNALLOW_ALLOCFAIL:-}" ] || prereq_missing "the allocfail shim (CDNALLOW_ALLOCFAIL)"
CAMP="$CDNALLOW_SRC/tests/integration/faultcamp.py"

mkdir -p "$WORK/doc"
https_start "$WORK/doc"
for kind in nft file; do
	python3 "$CAMP" alloc --kind $kind --work "$WORK" --bin "$CDNALLOW" --base "$BASE" \
		--docroot "$WORK/doc" --ca "$CA" --shim "$CDNALLOW_ALLOCFAIL" >"$WORK/camp.out" 2>&1
	rc=$?
	cat "$WORK/camp.out"
	if [ $rc = 0 ]; then
		ok "$kind target: every failed allocation kept the four properties"
	else
		not_ok "$kind target: allocation failures broke a property (exit $rc)"
	fi
done
finish
