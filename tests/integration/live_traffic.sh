#!/bin/sh
# SPDX-License-Identifier: MIT
# Live traffic while cdnallow syncs back to back (issue 4 item 6): an origin with TCP 443, a
# client inside the CDN list and one outside it, in namespaces joined by veth. Syncs alternate
# between two real Cloudflare lists that both keep the client's range, mixed with dry runs and
# runs whose download fails (an HTML page served with 200). The inside client (IPv4 and IPv6)
# must never be refused or time out; the outside client must never get in. Twice: with the
# admin's own table (create = no) and with cdnallow's origin lock.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
. "$CDNALLOW_SRC/tests/integration/traffic_lib.sh"

CFA="$DATA/cloudflare/plug_cloudflare_2018-09-30_731abed"   # 104.16.0.0/12, no 2405:8100::/32
CFB="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"   # 104.16.0.0/13 + 104.24.0.0/14
SYNCS=${LIVE_SYNCS:-120} # per phase; two phases

traffic_topology
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CFB"
https_start_in "$ORIGIN" "$DOC"
serve "$ORIGIN" 443
wait_port "$ORIGIN" 127.0.0.1 443 || prereq_missing "python3 -m http.server in the namespace"
CONF="$WORK/cdnallow.conf"
run() { nsx "$ORIGIN" "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
rc() { cat "$WORK/rc"; }

# phase NAME: SYNCS runs back to back while both clients connect continuously
phase() {
	ph=$1
	probe_start "in-$ph" "$CIN" --timeout 2 104.16.0.1:443 '[2400:cb00::1]:443'
	probe_start "out-$ph" "$COUT" --timeout 0.3 45.0.0.1:443 '[2a01:4f8::1]:443'
	i=0 applied=0 dry=0 faults=0 bad=0
	t0=$(date +%s)
	while [ $i -lt "$SYNCS" ]; do
		if [ $((i % 2)) = 0 ]; then cf_publish "$DOC" "$CFA"; else cf_publish "$DOC" "$CFB"; fi
		if [ $((i % 10)) = 3 ]; then
			run diff # a dry run: exit 0 with nothing changed anywhere
			dry=$((dry + 1))
			[ "$(rc)" = 0 ] || bad=$((bad + 1))
		elif [ $((i % 10)) = 7 ]; then
			echo html >"$DOC/ips-v4.fault" # the download fails: last known good stands in
			run sync
			rm -f "$DOC/ips-v4.fault"
			faults=$((faults + 1))
			[ "$(rc)" = 75 ] || bad=$((bad + 1))
		else
			run sync
			[ "$(rc)" = 0 ] || bad=$((bad + 1))
			grep -q "applied" "$WORK/out" && applied=$((applied + 1))
		fi
		[ "$bad" = 0 ] || { cat "$WORK/out" "$WORK/err" >&2; }
		i=$((i + 1))
	done
	t1=$(date +%s)
	IN=$(probe_stop "in-$ph")
	OUT=$(probe_stop "out-$ph")
	echo "# $ph: $SYNCS runs in $((t1 - t0)) s: $applied applied a change, $dry dry runs," \
		"$faults failed downloads, $bad unexpected exit statuses"
	echo "# $ph: inside client (v4+v6): $IN" | head -n 1
	echo "# $ph: outside client (v4+v6): $OUT" | head -n 1
	echo "$IN" | sed -n 's/^# /#   /p'
	check "$ph: every run exits as expected (0, or 75 for a failed download)" [ "$bad" = 0 ]
	check "$ph: the syncs applied real changes" [ "$applied" -gt $((SYNCS / 2)) ]
	check "$ph: inside client connected throughout" [ "$(count_of ok "$IN")" -gt 100 ]
	check "$ph: inside client: zero refused" [ "$(count_of refused "$IN")" = 0 ]
	check "$ph: inside client: zero timed out" [ "$(count_of timeout "$IN")" = 0 ]
	check "$ph: inside client: zero other errors" [ "$(count_of error "$IN")" = 0 ]
	check "$ph: outside client: zero accepted" [ "$(count_of ok "$OUT")" = 0 ]
	check "$ph: outside client kept trying" [ "$(count_of timeout "$OUT")" -gt 10 ]
}

# A. the admin's own table references cdnallow's sets (create = no)
nsx "$ORIGIN" nft -f - <<'NFT'
table inet admin {
	set allow_v4 { type ipv4_addr; flags interval; }
	set allow_v6 { type ipv6_addr; flags interval; }
	chain input {
		type filter hook input priority 0; policy accept;
		iif lo accept
		ct state established,related accept
		tcp dport 443 ip saddr @allow_v4 accept
		tcp dport 443 ip6 saddr @allow_v6 accept
		tcp dport 443 drop
	}
}
NFT
nsx "$ORIGIN" nft list chain inet admin input >"$WORK/chain1"
cf_config "$CONF" "table = admin" "create = no" "max_shrink = 50%"
run sync
check "admin table: first sync exits 0" [ "$(rc)" = 0 ]
check "admin table: inside client reaches 443" reach "$CIN" 104.16.0.1 443
check "admin table: outside client does not" noreach "$COUT" 45.0.0.1 443
phase admin-table
nsx "$ORIGIN" nft list chain inet admin input >"$WORK/chain2"
check "admin table: the admin's chain byte-identical" cmp "$WORK/chain1" "$WORK/chain2"

# B. cdnallow's own table with the origin lock (no admin rules at all)
nsx "$ORIGIN" nft delete table inet admin
rm -rf "$WORK/state"
cf_config "$CONF" "lock_ports = 443" "max_shrink = 50%"
run sync
check "origin lock: first sync exits 0" [ "$(rc)" = 0 ]
check "origin lock: inside client reaches 443" reach "$CIN" 104.16.0.1 443
check "origin lock: outside client does not" noreach "$COUT" 45.0.0.1 443
phase origin-lock

finish
