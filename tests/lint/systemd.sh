#!/bin/sh
# SPDX-License-Identifier: MIT
# systemd-analyze verify on the units (ExecStart pointed at the built binary, since
# /usr/sbin/cdnallow need not exist here), and the exposure score of the hardened services:
# at most 2.5 by default ("OK" in systemd-analyze security terms). Any message fails.
set -u
src=${CDNALLOW_SRC:?}
bin=${CDNALLOW:?}
# in tenths, as systemd-analyze takes it: 25 is an exposure of 2.5
threshold=${THRESHOLD:-25}
echo 1..3
if ! command -v systemd-analyze >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - systemd-analyze not installed"; exit 1; }
	echo "ok 1 # SKIP systemd-analyze not installed"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for u in cdnallow.service cdnallow.timer cdnallow-restore.service; do
	sed "s,/usr/sbin/cdnallow,$bin,g" "$src/contrib/systemd/$u" >"$tmp/$u" || exit 1
done
fail=0
cd "$tmp" || exit 1
SYSTEMD_LOG_COLOR=0 systemd-analyze verify --man=no cdnallow.service cdnallow.timer \
	cdnallow-restore.service >out 2>&1
rc=$?
sed 's/^/# /' out
if [ $rc -ne 0 ] || [ -s out ]; then
	echo "not ok 1 - systemd-analyze verify (status $rc)"
	fail=1
else
	echo "ok 1 - systemd-analyze verify"
fi
n=1
for u in cdnallow.service cdnallow-restore.service; do
	n=$((n + 1))
	systemd-analyze security --offline=yes --threshold="$threshold" "$tmp/$u" >out 2>&1
	rc=$?
	score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' out)
	if [ $rc -ne 0 ] || [ -z "$score" ]; then
		sed 's/^/# /' out
		echo "not ok $n - $u exposure ${score:-?} above $threshold tenths (status $rc)"
		fail=1
	else
		echo "ok $n - $u exposure $score (threshold $threshold tenths)"
	fi
done
exit $fail
