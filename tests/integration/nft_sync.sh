#!/bin/sh
# SPDX-License-Identifier: MIT
# The main path on the real kernel: cdnallow sync against a real HTTPS server, inside a
# private network namespace. Covers issue 2's "done when" list; 11: the cache names the sets
# it describes, and sets whose elements change by themselves are refused.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"

CF2015="$DATA/cloudflare/plug_cloudflare_2015-05-10_a48ec64"
CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2015"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
cf_config "$CONF"
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
rc() { cat "$WORK/rc"; }
expect_rc() { [ "$(rc)" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(rc) != $1"; return 1; }; }
# expected canonical lists of a data dir, as nft prints them (sorted)
expected() { cat "$1/ips-v$2"; echo; } 
canon() { sed '/^$/d' | sort; }

# 1. first sync creates the table and both interval sets with exactly the lists
run sync
check "first sync exits 0" expect_rc 0
nft_elems inet cdnallow allow_v4 >"$WORK/v4"
nft_elems inet cdnallow allow_v6 >"$WORK/v6"
expected "$CF2015" 4 | canon >"$WORK/exp4"
expected "$CF2015" 6 | canon >"$WORK/exp6"
check "allow_v4 holds exactly the 2015 IPv4 list" diff "$WORK/exp4" "$WORK/v4"
check "allow_v6 holds exactly the 2015 IPv6 list" diff "$WORK/exp6" "$WORK/v6"
check "sets are interval sets" sh -c "nft list set inet cdnallow allow_v4 | grep -q 'flags interval'"

# 2. a second run with an unchanged upstream: conditional requests, 304, nothing applied
nft list ruleset >"$WORK/rs1"
run sync --json
check "no-change run exits 0" expect_rc 0
check "no-change run reports unchanged" grep -q '"status":"unchanged"' "$WORK/out"
check "no-change run got two 304 answers" sh -c "[ \$(grep -c ' 304 ' '$REQLOG') -ge 2 ]"
nft list ruleset >"$WORK/rs2"
check "no-change run leaves the ruleset identical" cmp "$WORK/rs1" "$WORK/rs2"
run sync --detailed-exitcode
check "--detailed-exitcode is 0 when nothing changed" expect_rc 0

# 3. the real 2015 -> 2021 change removes 2 of 14 IPv4 entries: the shrink guard refuses
cf_publish "$DOC" "$CF2021"
tree_sum "$WORK/state" >"$WORK/st1"
run sync
check "shrink guard refuses the 2021 list (exit 3)" expect_rc 3
check "refusal names the figures" grep -q "2 of 14 IPv4" "$WORK/err"
nft list ruleset >"$WORK/rs3"
check "refused run leaves the ruleset identical" cmp "$WORK/rs1" "$WORK/rs3"
tree_sum "$WORK/state" >"$WORK/st2"
check "refused run leaves the state dir identical" cmp "$WORK/st1" "$WORK/st2"

# 4. diff and --dry-run change neither kernel nor state dir, and show the real diff
run diff
check "diff exits 3 too (it would be refused)" expect_rc 3
run diff --force
check "diff --force exits 0" expect_rc 0
check "diff shows + 104.24.0.0/14" grep -q "^  + 104.24.0.0/14" "$WORK/out"
check "diff shows - 104.16.0.0/12" grep -q "^  - 104.16.0.0/12" "$WORK/out"
check "diff shows + 2a06:98c0::/29" grep -q "^  + 2a06:98c0::/29" "$WORK/out"
run sync --dry-run --force --json --detailed-exitcode
check "dry run with --detailed-exitcode exits 2" expect_rc 2
check "dry run JSON says dry_run and would_change" \
	sh -c "grep -q '\"dry_run\":true' '$WORK/out' && grep -q '\"would_change\"' '$WORK/out'"
nft list ruleset >"$WORK/rs4"
tree_sum "$WORK/state" >"$WORK/st3"
check "dry runs leave the ruleset identical" cmp "$WORK/rs1" "$WORK/rs4"
check "dry runs leave the state dir identical" cmp "$WORK/st1" "$WORK/st3"

# 5. --force applies exactly the delta
run sync --force --json
check "forced sync exits 0" expect_rc 0
check "forced sync removed 104.16.0.0/12 and 199.27.128.0/21" \
	grep -q '"removed":\["104.16.0.0/12","199.27.128.0/21"\]' "$WORK/out"
# a 7-prefix delta fits in one element message per family and operation
check "forced sync sent a handful of element messages, not a refill" python3 -c \
	"import json; n=json.load(open('$WORK/out'))['targets'][0]['elem_msgs']; assert 1 <= n <= 4, n"
nft_elems inet cdnallow allow_v4 >"$WORK/v4"
nft_elems inet cdnallow allow_v6 >"$WORK/v6"
expected "$CF2021" 4 | canon >"$WORK/exp4"
expected "$CF2021" 6 | canon >"$WORK/exp6"
# nft merges nothing for us: the adjacent 104.16.0.0/13 + 104.24.0.0/14 are one interval
sed -i 's#^104.16.0.0/13$#104.16.0.0-104.27.255.255#; /^104.24.0.0\/14$/d' "$WORK/exp4"
sort -o "$WORK/exp4" "$WORK/exp4"
check "allow_v4 holds exactly the 2021 IPv4 list" diff "$WORK/exp4" "$WORK/v4"
check "allow_v6 holds exactly the 2021 IPv6 list" diff "$WORK/exp6" "$WORK/v6"
run sync --detailed-exitcode
check "next run is a no-op (+0 -0)" expect_rc 0
nft list ruleset >"$WORK/good"

# 6. bad downloads never reach the kernel: each leaves the sets exactly as they were
bad_case() { # NAME FAULTFILE-CONTENT EXPECTED-RC GREP
	echo "$2" >"$DOC/ips-v4.fault"
	rm -f "$WORK/state"/source-*  # no 304 shortcut: force a full fetch
	run sync
	rm -f "$DOC/ips-v4.fault"
	nft list ruleset >"$WORK/after"
	check "$1: ruleset unchanged" cmp "$WORK/good" "$WORK/after"
	check "$1: exit $3" expect_rc "$3"
	check "$1: message names the cause" grep -q "$4" "$WORK/err"
	check "$1: message names source and URL" grep -q "source cloudflare ($BASE/ips-v4)" "$WORK/err"
}
bad_case "HTML page with 200" "html" 65 "HTML"
bad_case "empty body" "empty" 65 "empty"
bad_case "HTTP 500" "status 500" 75 "500"
bad_case "HTTP 404" "status 404" 75 "404"
# one bad line in the middle of an otherwise good list
{ head -n 3 "$CF2021/ips-v4"; echo "104.16.0.0/33"; tail -n +4 "$CF2021/ips-v4"; } >"$DOC/ips-v4"
rm -f "$WORK/state"/source-*
run sync
nft list ruleset >"$WORK/after"
check "bad line: ruleset unchanged" cmp "$WORK/good" "$WORK/after"
check "bad line: exit 65" expect_rc 65
check "bad line: message names URL and line 4" grep -q "ips-v4):4:" "$WORK/err"
cf_publish "$DOC" "$CF2021"
# a missing family: the IPv6 list answers with only IPv4 entries
cp "$CF2021/ips-v4" "$DOC/ips-v6"
run sync
nft list ruleset >"$WORK/after"
check "missing family: ruleset unchanged" cmp "$WORK/good" "$WORK/after"
check "missing family: non-zero exit" sh -c "[ $(rc) -ne 0 ]"
check "missing family: says so" grep -q "IPv6" "$WORK/err"
cf_publish "$DOC" "$CF2021"

# 7. with a last known good list, a failing source falls back to it (exit 75, loud)
run sync
check "recovered run exits 0" expect_rc 0
echo "status 503" >"$DOC/ips-v6.fault"
run sync --json
rm -f "$DOC/ips-v6.fault"
check "fallback exits 75" expect_rc 75
check "fallback is in the JSON" grep -q '"status":"fallback"' "$WORK/out"
nft list ruleset >"$WORK/after"
check "fallback leaves the ruleset identical" cmp "$WORK/good" "$WORK/after"

# 8. an admin-owned table: our sets inside it, its rules and other sets untouched
nft -f - <<'NFT'
table inet admin {
	set allow_v4 { type ipv4_addr; flags interval; }
	set allow_v6 { type ipv6_addr; flags interval; }
	set blocklist { type ipv4_addr; elements = { 203.0.113.9 } }
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr @blocklist drop
		tcp dport 443 ip saddr @allow_v4 accept
		tcp dport 443 ip6 saddr @allow_v6 accept
		tcp dport 443 drop
	}
}
NFT
ADMIN="$WORK/admin.conf"
cf_config "$ADMIN" "table = admin" "create = no"
sed -i "s#^state_dir = .*#state_dir = $WORK/state-admin#" "$ADMIN"
nft list chain inet admin input >"$WORK/chain1"
nft list set inet admin blocklist >"$WORK/bl1"
"$CDNALLOW" -c "$ADMIN" sync >"$WORK/out" 2>"$WORK/err"
echo $? >"$WORK/rc"
check "admin-owned table: sync exits 0" expect_rc 0
nft list chain inet admin input >"$WORK/chain2"
nft list set inet admin blocklist >"$WORK/bl2"
check "admin-owned table: chain byte-identical" cmp "$WORK/chain1" "$WORK/chain2"
check "admin-owned table: other set byte-identical" cmp "$WORK/bl1" "$WORK/bl2"
check "admin-owned table: our set filled" sh -c "nft list set inet admin allow_v4 | grep -q 131.0.72.0/22"
nft 'add table inet admin2; add set inet admin2 allow_v4 { type ipv4_addr; flags interval; }; add set inet admin2 allow_v6 { type ipv4_addr; }'
sed -i 's/^table = admin$/table = admin2/' "$ADMIN"
"$CDNALLOW" -c "$ADMIN" sync >"$WORK/out" 2>"$WORK/err"
echo $? >"$WORK/rc"
check "admin-owned table: wrong set type fails with 78 (a configuration error)" expect_rc 78
check "admin-owned table: error names the set" grep -q "allow_v6" "$WORK/err"
check "admin-owned table: the error says what is wrong" grep -q "needs type ipv6_addr" "$WORK/err"

# 9. two concurrent runs serialise on the state dir lock: run 1 holds it for ~2 s (a slow
# answer); run 2 would need ~0.1 s on its own, so it can only end after run 1 if it waited
echo "delay 2" >"$DOC/ips-v4.fault"
rm -f "$WORK/state"/source-*
( "$CDNALLOW" -c "$CONF" sync >"$WORK/c1.out" 2>"$WORK/c1.err"; echo $? >"$WORK/c1.rc"; date +%s.%N >"$WORK/c1.end" ) &
C1=$!
sleep 0.4
rm -f "$DOC/ips-v4.fault"
"$CDNALLOW" -c "$CONF" sync >"$WORK/c2.out" 2>"$WORK/c2.err"
echo $? >"$WORK/c2.rc"
date +%s.%N >"$WORK/c2.end"
wait $C1
check "concurrent run 1 exits 0" sh -c "[ \$(cat '$WORK/c1.rc') = 0 ]"
check "concurrent run 2 exits 0" sh -c "[ \$(cat '$WORK/c2.rc') = 0 ]"
check "run 2 finished after run 1 (it waited for the lock)" python3 -c \
	"import sys; sys.exit(float(open('$WORK/c2.end').read()) <= float(open('$WORK/c1.end').read()))"
sed -i 's/^lock_timeout = .*/lock_timeout = 1s/' "$CONF"
echo "delay 3" >"$DOC/ips-v4.fault"
rm -f "$WORK/state"/source-*
( "$CDNALLOW" -c "$CONF" sync >/dev/null 2>&1 ) &
C1=$!
sleep 0.5
run sync
wait $C1
rm -f "$DOC/ips-v4.fault"
check "a run that cannot get the lock in time fails clearly" grep -q "lock" "$WORK/err"
check "... with a non-zero exit" sh -c "[ $(rc) -ne 0 ]"

# 10. 100,000 generated intervals through the CLI: one transaction, read back equal
python3 - "$WORK/big.txt" <<'PY'
import random, sys
random.seed(7)
seen = set()
with open(sys.argv[1], "w") as f:
    while len(seen) < 100000:
        a = random.randrange(1 << 24) << 8
        if a >> 24 in (0, 10, 100, 127, 169, 172, 192, 198, 203) or a >> 24 >= 224:
            continue
        seen.add(a)
    for a in sorted(seen):
        f.write("%d.%d.%d.0/24\n" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255))
    f.write("2001:4860::/32\n")
PY
BIG="$WORK/big.conf"
cat >"$BIG" <<EOF2
[cdnallow]
state_dir = $WORK/state-big
[source.big]
provider = text
url = file://$WORK/big.txt
[target.bigset]
backend = nftables
sources = big
table = bigtable
EOF2
chmod 600 "$BIG"
"$CDNALLOW" -c "$BIG" sync --json >"$WORK/out" 2>"$WORK/err"
echo $? >"$WORK/rc"
check "100k-interval sync exits 0" expect_rc 0
python3 - "$WORK/big.txt" >"$WORK/bigexp" <<'PY'
import ipaddress, sys
nets = [ipaddress.ip_network(l.strip()) for l in open(sys.argv[1]) if "." in l]
for n in ipaddress.collapse_addresses(nets):
    print(n)
PY
"$CDNALLOW" -c "$BIG" show >"$WORK/bigshow" 2>&1
grep '^  [0-9.]*/' "$WORK/bigshow" | sed 's/^  //' | sort >"$WORK/bigv4"
sort "$WORK/bigexp" >"$WORK/bigexp.s"
check "100k-interval set reads back equal" cmp "$WORK/bigexp.s" "$WORK/bigv4"
check "100k-interval set holds the IPv6 entry" grep -q "2001:4860::/32" "$WORK/bigshow"
nft delete table inet bigtable

# 11. the cache names the sets it describes; sets cdnallow cannot keep in step are refused
nft -f - <<'NFT'
table inet admin3 {
	set a4 { type ipv4_addr; flags interval; }
	set a6 { type ipv6_addr; flags interval; }
	set b4 { type ipv4_addr; flags interval; }
	set b6 { type ipv6_addr; flags interval; }
	set t4 { type ipv4_addr; flags interval,timeout; }
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr @b4 accept
		ip6 saddr @b6 accept
	}
}
NFT
SW="$WORK/switch.conf"
cf_config "$SW" "table = admin3" "create = no" "set_v4 = a4" "set_v6 = a6"
sed -i "s#^state_dir = .*#state_dir = $WORK/state-switch#" "$SW"
runsw() { "$CDNALLOW" -c "$SW" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
runsw sync
check "set switch: a first sync fills a4/a6" expect_rc 0
# the admin points the target at b4/b6: nothing is committed, the genid stays
sed -i 's/^set_v4 = a4$/set_v4 = b4/; s/^set_v6 = a6$/set_v6 = b6/' "$SW"
runsw show
check "set switch: show lists what b4/b6 hold (nothing), not a4/a6's cache" \
	sh -c "! grep -q '131.0.72.0/22' '$WORK/out'"
runsw doctor
check "set switch: doctor sees that b4 is empty" \
	grep -q "sets \[inet admin3 b4\]: set is empty" "$WORK/out"
runsw sync --json
check "set switch: sync into b4/b6 exits 0" expect_rc 0
check "set switch: ... and reports a change" grep -q '"status":"changed"' "$WORK/out"
check "set switch: b4 holds the list" sh -c "nft list set inet admin3 b4 | grep -q 131.0.72.0/22"
runsw sync --detailed-exitcode
check "set switch: the next run is a no-op" expect_rc 0
# a cache that lies at the current genid (as one of a timeout set would): --verify-full
# reads the kernel, so it finds nothing to do, where the cache would add the list again
for f in "$WORK/state-switch"/applied-nft-edge-*.list; do sed -i '3,$d' "$f"; done
runsw diff --verify-full --detailed-exitcode
check "--verify-full reads the kernel, never the cache" expect_rc 0
sed -i 's/^set_v4 = b4$/set_v4 = t4/' "$SW"
runsw sync
check "timeout set: refused as a configuration error (78)" expect_rc 78
check "timeout set: the error names the set and the flag" \
	grep -q "set inet admin3 t4 has flags timeout" "$WORK/err"
check "timeout set: the error names the config line" grep -q "switch.conf:[0-9]*:" "$WORK/err"
# our own set, recreated by an admin with another flag: reported, not EEXIST every run
"$CDNALLOW" -c "$CONF" sync >/dev/null 2>&1
nft 'delete set inet cdnallow allow_v6; add set inet cdnallow allow_v6 { type ipv6_addr; flags interval,timeout; }'
run sync
check "own set with flags timeout: exit 69" expect_rc 69
check "own set with flags timeout: says how to get it recreated" \
	grep -q "nft delete set inet cdnallow allow_v6" "$WORK/err"
nft delete set inet cdnallow allow_v6
run sync
check "own set deleted: the next run recreates and fills it" expect_rc 0
check "own set deleted: ... with flags interval" \
	sh -c "nft list set inet cdnallow allow_v6 | grep -q 'flags interval$'"
# two targets, one named like the other's prefix: each keeps its own cache (edge-2 saves
# first, then edge, whose clean-up of its own stale caches used to take edge-2's too)
cat >"$WORK/two.conf" <<EOF2
[cdnallow]
state_dir = $WORK/state-two
[source.cloudflare]
provider = cloudflare
url = $BASE/ips-v4 $BASE/ips-v6
ca_file = $CA
[target.edge-2]
backend = nftables
sources = cloudflare
table = two
[target.edge]
backend = nftables
sources = cloudflare
table = one
EOF2
chmod 600 "$WORK/two.conf"
"$CDNALLOW" -c "$WORK/two.conf" sync >"$WORK/out" 2>"$WORK/err"
echo $? >"$WORK/rc"
check "two targets: sync exits 0" expect_rc 0
check "two targets: edge and edge-2 both keep a cache" \
	sh -c "ls '$WORK/state-two' | grep -q '^applied-nft-edge-2-' && \
		ls '$WORK/state-two' | grep -q '^applied-nft-edge-[0-9a-f]*-[0-9a-f]*\\.'"

finish
