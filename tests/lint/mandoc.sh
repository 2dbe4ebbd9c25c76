#!/bin/sh
# SPDX-License-Identifier: MIT
# mandoc -Tlint -Wstyle on both pages in one call; any message fails. Cross-references between
# them resolve through a private manpath in front of the system's; an .Xr to a page that is
# not installed (csf) is a STYLE message, so such names are plain text in the pages.
# mandoc's "outdated mandoc.db" notices on stderr only say that Debian indexes pages with
# man-db, not makewhatis; they are shown but not counted.
set -u
src=${CDNALLOW_SRC:?}
mandoc=${MANDOC:-mandoc}
echo 1..1
if ! command -v "$mandoc" >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - mandoc not installed"; exit 1; }
	echo "ok 1 # SKIP mandoc not installed"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/man5" "$tmp/man8"
ln -s "$src/man/cdnallow.8" "$tmp/man8/"
ln -s "$src/man/cdnallow.conf.5" "$tmp/man5/"
cd "$src" || exit 1
MANPATH="$tmp:" "$mandoc" -Tlint -Wstyle man/cdnallow.8 man/cdnallow.conf.5 >"$tmp/out" 2>"$tmp/err"
rc=$?
grep -v 'outdated mandoc.db lacks' "$tmp/err" >>"$tmp/out"
sed 's/^/# /' "$tmp/out"
if [ $rc -ne 0 ] || [ -s "$tmp/out" ]; then
	echo "not ok 1 - mandoc -Tlint -Wstyle (status $rc)"
	exit 1
fi
echo "ok 1 - mandoc -Tlint -Wstyle man/cdnallow.8 man/cdnallow.conf.5"
