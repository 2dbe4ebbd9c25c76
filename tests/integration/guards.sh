#!/bin/sh
# SPDX-License-Identifier: MIT
# List guards on what is really left (after special-purpose space is dropped and the rest
# merged), and lists from the state dir judged by today's policy (304, fallback, restore),
# on the real kernel in a private network namespace.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"

CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2021"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
cf_config "$CONF"
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }; }
has() { grep -q -e "$1" "$2" || { echo "no '$1' in:"; cat "$2"; return 1; }; }
no_table() { ! nft list table inet cdnallow >/dev/null 2>&1; }

# 1. a list of only private space: every family is gone once it is dropped (first run)
for i in $(seq 0 15); do echo "10.$i.0.0/16"; done >"$DOC/ips-v4"
for i in 1 2 3 4 5 6 7; do echo "fd0$i::/32"; done >"$DOC/ips-v6"
run --json sync
check "only private space: exit 65 (bad data, no fallback)" expect_rc 65
check "... the source failed for a missing family, after dropping" \
	has "no IPv4 entries" "$WORK/err"
check "... nothing was created" no_table

# 2. ten copies of one /13 do not meet a floor of ten entries
for i in $(seq 1 12); do echo "104.16.0.0/13"; done >"$DOC/ips-v4"
cp "$CF2021/ips-v6" "$DOC/ips-v6"
run sync
check "twelve copies of one /13: exit 65" expect_rc 65
check "... below the floor, counted after merging" has "below the floor" "$WORK/err"
check "... nothing was created" no_table

# 3. a good sync, then a stricter bound: the cached list is not kept by a 304
cf_publish "$DOC" "$CF2021"
run sync
check "the real 2021 list syncs" expect_rc 0
nft list ruleset >"$WORK/good"
sed -i "s#^lock_timeout = 20s#lock_timeout = 20s\nbroadest_v4 = 14#" "$CONF"
: >"$REQLOG"
run sync
check "broadest_v4 = 14 with /13s cached: the cached list is not used" \
	has "last known good list fails today's policy" "$WORK/err"
check "... the fetch was unconditional (no If-None-Match, no 304)" \
	sh -c "! grep -q ' 304 ' '$REQLOG' && grep -q 'ips-v4 200 inm=-' '$REQLOG'"
check "... the fresh list is refused by the bound (65)" expect_rc 65
check "... and the ruleset is as it was" sh -c "nft list ruleset | diff '$WORK/good' -"
run restore
check "restore with the stricter bound applies nothing from the cache" \
	has "fails today's policy" "$WORK/err"
check "... exits non-zero" sh -c "[ \$(cat '$WORK/rc') -ne 0 ]"
check "... and the ruleset is as it was" sh -c "nft list ruleset | diff '$WORK/good' -"

# 4. a state file holding 0.0.0.0/1 (written by hand: corrupt or tampered) is never applied
sed -i "/^broadest_v4 = 14/d" "$CONF"
run sync
check "back to the default bound: sync exits 0" expect_rc 0
f=$(ls "$WORK/state"/source-cloudflare*.list | head -1)
cp "$f" "$WORK/list.bak"
echo "0.0.0.0/1" >>"$f"
run restore
check "a cached 0.0.0.0/1 is refused by restore" has "broader than /8" "$WORK/err"
check "... which applies nothing" sh -c "! nft list set inet cdnallow allow_v4 | grep -q '0.0.0.0/1'"
cp "$WORK/list.bak" "$f"
printf '10.0.0.0/8\n' >>"$f"
run restore
check "cached special-purpose space is refused by restore" has "special-purpose" "$WORK/err"
check "... which applies nothing" sh -c "! nft list set inet cdnallow allow_v4 | grep -q '10.0.0.0/8'"

# 5. a v4 body cut after its last address ("131.0.72.0" of "131.0.72.0/22", no final
# newline): Cloudflare publishes prefixes only, so the source fails at that line and its
# last known good list stands in; the kernel keeps the /22
cp "$WORK/list.bak" "$f"
run sync
check "back to a good cache: sync exits 0" expect_rc 0
nft list ruleset >"$WORK/good"
head -c $(($(wc -c <"$CF2021/ips-v4") - 3)) "$CF2021/ips-v4" >"$DOC/ips-v4"
check "... (the body now ends in a bare 131.0.72.0)" sh -c "tail -c 11 '$DOC/ips-v4' | grep -qx '131.0.72.0'"
run sync
check "a body cut after an address falls back (exit 75)" expect_rc 75
check "... naming the bare address" has '"131.0.72.0" has no prefix length' "$WORK/err"
check "... with the source, URL and line" has 'source cloudflare (https://[^)]*/ips-v4):15: ' "$WORK/err"
check "... the /22 is still allowed, the ruleset as it was" \
	sh -c "nft list ruleset | diff '$WORK/good' - && nft list set inet cdnallow allow_v4 | grep -q '131.0.72.0/22'"

# 6. Cloudflare's real change of 2021 split 104.16.0.0/12 into a /13 and a /14: one entry
# of fourteen removed, but 262,144 of 1,786,880 IPv4 addresses (15%) lost. Refused by
# default, on the addresses; applied with --force.
cf_publish "$DOC" "$DATA/cloudflare/plug_cloudflare_2020-11-22_89fa91f"
run sync --force
check "the 2020-11 list syncs" expect_rc 0
nft list ruleset >"$WORK/good"
cf_publish "$DOC" "$DATA/cloudflare/plug_cloudflare_2021-04-08_3696708"
run sync
check "the 2021-04 list is refused by the shrink guard (exit 3)" expect_rc 3
check "... on the addresses it loses" has "refusing to remove 2.621e+05 of 1.787e+06 IPv4 addresses (15%" "$WORK/err"
check "... and the ruleset is as it was" sh -c "nft list ruleset | diff '$WORK/good' -"
run sync --force
check "with --force it applies" expect_rc 0
check "... 104.28.0.0/14 is no longer allowed" sh -c "! nft list set inet cdnallow allow_v4 | grep -q '104.16.0.0/12'"
finish
