#!/bin/sh
# SPDX-License-Identifier: MIT
# The real binary under valgrind (memcheck, leaks included) through the main commands, on the
# real kernel and a real HTTPS server inside a private network namespace: first sync,
# no-change sync, forced change, refusal, diff, show, check, fetch, restore, a failing source
# with and without its last known good list, --json, doctor. Each run must exit with its documented
# status and valgrind must report no error and no definite or indirect leak.
# (Registered only in builds without sanitizers: valgrind cannot run an ASan binary.)
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
command -v valgrind >/dev/null || prereq_missing "valgrind"
if grep -q -a __asan_init "$CDNALLOW" 2>/dev/null; then
	prereq_missing "a binary without AddressSanitizer ($CDNALLOW is instrumented)"
fi

CF2015="$DATA/cloudflare/plug_cloudflare_2015-05-10_a48ec64"
CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2015"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
cf_config "$CONF"

# vg LABEL EXPECTED-EXIT ARGS...: one run under valgrind
N=0
vg() {
	label=$1 want=$2
	shift 2
	N=$((N + 1))
	log="$WORK/vg.$N.log"
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --num-callers=30 --log-file="$log" \
		"$CDNALLOW" "$@" >"$WORK/out" 2>"$WORK/err"
	rc=$?
	# valgrind's own error exit is 1, which cdnallow never uses
	check "$label: exit $want" sh -c "[ $rc = $want ] || { [ $rc = 1 ] &&
		echo 'exit 1: valgrind reported errors (next check)' || echo 'exit $rc';
		cat '$WORK/err'; false; }"
	check "$label: valgrind-clean (no error, no definite or indirect leak)" \
		sh -c "[ ! -s '$log' ] || { head -n 60 '$log'; false; }"
}

vg "first sync" 0 -c "$CONF" sync
check "first sync: the table exists" nft list set inet cdnallow allow_v4
vg "no-change sync (304)" 0 -c "$CONF" sync
vg "no-change sync, --json" 0 -c "$CONF" --json sync
check "--json output parses" python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$WORK/out"
cf_publish "$DOC" "$CF2021"
vg "change refused by the shrink guard" 3 -c "$CONF" sync
vg "diff" 3 -c "$CONF" diff
vg "diff --force --json" 0 -c "$CONF" --json diff --force
vg "forced change, --json, --detailed-exitcode" 2 -c "$CONF" --json --detailed-exitcode sync --force
check "forced change applied" sh -c "nft list set inet cdnallow allow_v4 | grep -q 131.0.72.0/22"
vg "show" 0 -c "$CONF" show
vg "show --json" 0 -c "$CONF" --json show
vg "check" 0 -c "$CONF" check
vg "fetch" 0 -c "$CONF" fetch
echo "status 500" >"$DOC/ips-v4.fault"
vg "failing source with its last known good list" 75 -c "$CONF" sync
vg "failing source with its last known good list, --json" 75 -c "$CONF" --json sync
check "the JSON says fallback" grep -q '"status":"fallback"' "$WORK/out"
echo "html" >"$DOC/ips-v4.fault"
mv "$WORK/state/source-cloudflare.list" "$WORK/lkg"
vg "HTML and no last known good list, --json" 65 -c "$CONF" --json sync
mv "$WORK/lkg" "$WORK/state/source-cloudflare.list"
rm -f "$DOC/ips-v4.fault"
nft delete table inet cdnallow
vg "restore (no network)" 0 -c "$CONF" restore
check "restore put the sets back" sh -c "nft list set inet cdnallow allow_v4 | grep -q 131.0.72.0/22"
# doctor: an admin table whose rule looks up a set of its own, which the prefetch thread
# dumps on its own netlink socket (its request once went out with uninitialised bytes)
printf '%s\n' 'table inet admin {' \
	'set blocklist { type ipv4_addr; flags interval; elements = { 198.51.100.0/24 }; }' \
	'chain input { type filter hook input priority -10; policy accept; ip saddr @blocklist drop; }' \
	'}' >"$WORK/admin.nft"
check "an admin table with a set its rule looks up" nft -f "$WORK/admin.nft"
python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 443)); s.listen(); time.sleep(120)' >/dev/null 2>&1 &
LISTENER=$!
i=0
until grep -q '^ *[0-9]*: 00000000:01BB 00000000:0000 0A' /proc/net/tcp || [ $i -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
vg "doctor (an admin set dumped by the prefetch thread)" 0 -c "$CONF" doctor --port 443
kill $LISTENER 2>/dev/null
nft delete table inet admin
vg "unknown target" 64 -c "$CONF" --target nope sync
echo "sorce = x" >>"$CONF"
vg "configuration error" 78 -c "$CONF" sync
vg "--list-providers" 0 --list-providers
nft delete table inet cdnallow

finish
