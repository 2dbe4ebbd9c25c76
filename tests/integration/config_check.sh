#!/bin/sh
# SPDX-License-Identifier: MIT
# check passes exactly what a run takes: every bad backend or provider key, and two targets
# managing one object, exit 78 for check and sync alike, before anything changes (and a
# last known good list never hides a provider key error); the file's syntax corners (BOM,
# a comment after a section header, source names in any case); --json stays valid UTF-8
# when an error quotes a Latin-1 body. In a private network namespace.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"

DOC="$WORK/doc"
mkdir -p "$DOC"
printf '{"prefixes":[{"p":"104.16.0.0/13","k":"a"},{"p":"2400:cb00::/32","k":"b"}]}' \
	>"$DOC/list.json"
printf '104.16.0.0/13\n# caf\351\ncaf\351\n' >"$DOC/latin1.txt"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }; }
has() { grep -q -e "$1" "$2" || { echo "no '$1' in:"; cat "$2"; return 1; }; }
no_table() { ! nft list table inet cdnallow >/dev/null 2>&1; }

# conf TARGET-LINES...: one json source (its own keys in $SRC) and the lines given
conf() {
	{
		echo "[cdnallow]"
		echo "state_dir = $WORK/state"
		echo "[source.j]"
		echo "provider = json"
		echo "url = $BASE/list.json"
		echo "ca_file = $CA"
		printf '%b' "${SRC-select = prefixes[].p\n}"
		for l in "$@"; do echo "$l"; done
	} >"$CONF"
	chmod 600 "$CONF"
}

# bad DESCRIPTION MESSAGE TARGET-LINES...: check and sync both exit 78 naming MESSAGE,
# and sync changed nothing
bad() {
	what=$1 msg=$2
	shift 2
	conf "$@"
	rm -rf "$WORK/state"
	run check
	check "check: $what (78)" expect_rc 78
	check "... names the key" has "$msg" "$WORK/err"
	run sync
	check "sync: $what (78, as check)" expect_rc 78
	check "... names the key" has "$msg" "$WORK/err"
	check "... nothing was created or fetched" sh -c "! nft list tables | grep -q . && [ ! -e '$WORK/state' ]"
}

N="[target.n]
backend = nftables
sources = j"
F="[target.f]
backend = file
sources = j"
bad "file target without path" "path: missing" "$F"
bad "relative path" "path: expected an absolute file path" "$F" "path = rel"
bad "mode 9999" "mode: expected an octal file mode" "$F" "path = $WORK/x" "mode = 9999"
bad "setuid mode 6777" "mode: at most 0777" "$F" "path = $WORK/x" "mode = 6777"
bad "line without {cidr}" "line: expected a one-line template with {cidr}" "$F" \
	"path = $WORK/x" "line = allow"
bad "family = bridge" "family: expected inet, ip or ip6" "$N" "family = bridge"
bad "table = 1bad name" "table: expected an nftables name" "$N" "table = 1bad name"
bad "lock_ports = 99999" "lock_ports: expected" "$N" "lock_ports = 99999"
bad "create = maybe" "create: expected yes or no" "$N" "create = maybe"
bad "iptables chain = INPUT" "chain: must be a chain of our own" \
	"[target.i]" "backend = iptables" "sources = j" "chain = INPUT"
bad "two targets managing one nft set" "\[target.m\]: manages nftables set inet cdnallow allow_v4, as \[target.n\]" \
	"$N" "[target.m]" "backend = nftables" "sources = j" "set_v6 = other"
bad "two file targets writing one file" "\[target.g\]: manages file $WORK/x" \
	"$F" "path = $WORK/x" "[target.g]" "backend = file" "sources = j" "path = $WORK/x"
SRC=''
bad "json source without select" "select: missing" "$N"
SRC='select = a..b\n'
bad "select = a..b" "select: empty step" "$N"
SRC='select = a[].b\nwhere = =x\n'
bad "where = =x" "where: expected key=value" "$N"
SRC=''
conf "$N"
sed -i 's/^provider = json$/provider = cloudflare-api\nnetworks = china/' "$CONF"
run check
check "check: cloudflare-api networks = china (78)" expect_rc 78
check "... names it" has 'networks: only "jdcloud" is known' "$WORK/err"
unset SRC

# a provider key error is not hidden by a last known good list
rm -rf "$WORK/state"
conf "$N"
run sync
check "a good json source syncs" expect_rc 0
check "... into the set" sh -c "nft list set inet cdnallow allow_v4 | grep -q 104.16.0.0/13"
nft list ruleset >"$WORK/good"
tree_sum "$WORK/state" >"$WORK/state.sum"
sed -i 's/^select = .*/select = prefixes..p/' "$CONF"
: >"$REQLOG"
run sync
check "select broken after a good sync: sync exits 78, not 75 with the cached list" expect_rc 78
check "... naming the key and its line" has "cdnallow.conf:7: select: empty step" "$WORK/err"
check "... without a fetch" sh -c "[ ! -s '$REQLOG' ]"
tree_sum "$WORK/state" >"$WORK/state.sum2"
check "... ruleset and state dir as they were" sh -c \
	"nft list ruleset | diff '$WORK/good' - && cmp '$WORK/state.sum' '$WORK/state.sum2'"
run restore
check "restore refuses it too (78)" expect_rc 78

# the file's syntax: a BOM, a comment after a section header, a source named in any case
nft flush ruleset
rm -rf "$WORK/state"
{
	printf '\357\273\277[cdnallow] ; global settings\n'
	echo "state_dir = $WORK/state"
	echo "[source.Edge] # upper case in the header"
	echo "provider = json"
	echo "url = $BASE/list.json"
	echo "ca_file = $CA"
	echo "select = prefixes[].p"
	echo "[target.n]	; a tab, then a comment"
	echo "backend = nftables"
	echo "sources = EDGE"
} >"$CONF"
chmod 600 "$CONF"
run check
check "BOM, comments after headers, 'sources = EDGE': check passes" expect_rc 0
run sync
check "... and sync applies it" expect_rc 0
check "... into the set" sh -c "nft list set inet cdnallow allow_v4 | grep -q 104.16.0.0/13"

# --json is valid UTF-8 when an error quotes a Latin-1 body
nft flush ruleset
rm -rf "$WORK/state"
SRC=''
conf "$N"
unset SRC
sed -i "s#^provider = json#provider = text#; s#list.json#latin1.txt#" "$CONF"
run --json sync
check "a Latin-1 list is bad data (65)" expect_rc 65
check "--json output is valid UTF-8 and one JSON document" python3 -c "
import json
raw = open('$WORK/out', 'rb').read()
d = json.loads(raw.decode('utf-8', 'strict'))
msg = d['sources'][0]['error']['message']
assert '\\\\xe9' in msg, msg
"
finish
