#!/bin/sh
# SPDX-License-Identifier: MIT
# `meson install --destdir` of this build dir into a temporary directory puts every file
# where it belongs, and a second install keeps an edited /etc/cdnallow/cdnallow.conf.
# usage: install.sh FILE... (absolute install paths that must exist)
set -u
build=${CDNALLOW_BUILD:?}
echo 1..3
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
if ! meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/log" 2>&1; then
	sed 's/^/# /' "$tmp/log"
	echo "not ok 1 - meson install --destdir"
	exit 1
fi
echo "ok 1 - meson install --destdir"
missing=
for f in "$@"; do
	[ -f "$tmp/root$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	(cd "$tmp/root" && find . -type f | sed 's/^/# installed: /')
	echo "not ok 2 - missing:$missing"
	fail=1
else
	echo "ok 2 - installed $*"
fi
conf="$tmp/root/etc/cdnallow/cdnallow.conf"
echo '# edited by the admin' >>"$conf"
if meson install -C "$build" --no-rebuild --destdir "$tmp/root" >"$tmp/log" 2>&1 &&
	tail -n 1 "$conf" | grep -q 'edited by the admin' &&
	[ "$(stat -c %a "$conf")" = 644 ]; then
	echo "ok 3 - a second install keeps the edited configuration (mode 0644)"
else
	sed 's/^/# /' "$tmp/log"
	echo "not ok 3 - a second install overwrote or lost /etc/cdnallow/cdnallow.conf"
	fail=1
fi
exit $fail
