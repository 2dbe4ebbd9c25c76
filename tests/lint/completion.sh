#!/bin/bash
# SPDX-License-Identifier: MIT
# The bash completion offers commands, options and the config's target names. TAP.
set -u
src=${CDNALLOW_SRC:?}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
printf '[source.a]\nprovider = cloudflare\n[target.Edge]\nbackend = null\nsources = a\n' \
	'' >"$tmp/c.conf"
printf '  [ target.nginx ]  ; x\nbackend = null\n' >>"$tmp/c.conf"
# shellcheck source=/dev/null
. "$src/contrib/bash-completion/cdnallow"
n=0 fail=0
t() { # expected, words...
	local want=$1 got
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_cdnallow
	got=
	if [ ${#COMPREPLY[@]} -gt 0 ]; then
		got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
	fi
	n=$((n + 1))
	if [ "$got" = "$want" ]; then
		echo "ok $n - ${*}"
	else
		echo "not ok $n - ${*}: got '$got', want '$want'"
		fail=1
	fi
}
echo 1..11
t 'diff ' cdnallow di
t 'restore ' cdnallow -q res
t '--detailed-exitcode --dry-run ' cdnallow --d
t 'edge nginx ' cdnallow -c "$tmp/c.conf" --target ''
t 'nginx ' cdnallow --config="$tmp/c.conf" -t n
t '' cdnallow sync ''
t 'edge nginx ' cdnallow --config = "$tmp/c.conf" --target = ''
t 'show ' cdnallow --target = edge sh
t 'publish ' cdnallow -q pu
t '--splay ' cdnallow --spl
mkdir "$tmp/fleetdir"
t "$tmp/fleetdir " cdnallow publish "$tmp/fl"
exit $fail
