#!/bin/sh
# SPDX-License-Identifier: MIT
# The origin lock on the real kernel with real traffic: namespaces joined by veth (origin,
# a client inside the CDN list, one outside it, a container behind DNAT), cdnallow running in
# the origin namespace against an HTTPS server on its loopback.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
. "$CDNALLOW_SRC/tests/integration/traffic_lib.sh"

CFA="$DATA/cloudflare/plug_cloudflare_2018-09-30_731abed"   # 104.16.0.0/12, no 2405:8100::/32
CFB="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"   # 104.16.0.0/13 + 104.24.0.0/14
SYNCS=${LOCK_SYNCS:-60}

traffic_topology with_ctr
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CFB"
https_start_in "$ORIGIN" "$DOC"
serve "$ORIGIN" 443
serve "$ORIGIN" 8080
serve "$CTR" 443 0.0.0.0
serve "$COUT" 443 0.0.0.0
wait_port "$ORIGIN" 127.0.0.1 443 && wait_port "$ORIGIN" 127.0.0.1 8080 &&
	wait_port "$CTR" 127.0.0.1 443 && wait_port "$COUT" 127.0.0.1 443 ||
	prereq_missing "python3 -m http.server in the namespaces"
# an admin table of someone else's, to prove it is left alone (no counters: byte-identical)
nsx "$ORIGIN" nft -f - <<'NFT'
table inet admin {
	set blocklist { type ipv4_addr; elements = { 203.0.113.9 } }
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr @blocklist drop
		tcp dport { 443, 8080 } accept
	}
}
NFT
nsx "$ORIGIN" nft list table inet admin >"$WORK/admin1"
nsx "$ORIGIN" nft list table ip nat >"$WORK/nat1"

CONF="$WORK/cdnallow.conf"
conf() { cf_config "$CONF" "max_shrink = 50%" "$@"; }
run() { nsx "$ORIGIN" "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
rc() { cat "$WORK/rc"; }
expect_rc() { [ "$(rc)" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(rc) != $1"; return 1; }; }
has_chain() { nsx "$ORIGIN" nft list chain inet cdnallow "$1" >/dev/null 2>&1; }

# 0. first run, the fetch fails and there is no last known good list: no sets, no lock
conf "lock_ports = 443"
echo "status 500" >"$DOC/ips-v4.fault"
run sync
rm -f "$DOC/ips-v4.fault"
check "failed first fetch: non-zero exit" sh -c "[ $(rc) -ne 0 ]"
check "failed first fetch: no table of ours (neither sets nor lock)" \
	sh -c "! ip netns exec '$ORIGIN' nft list table inet cdnallow >/dev/null 2>&1"
check "failed first fetch: the outside client still reaches 443" reach "$COUT" 45.0.0.1 443

# 1. lock_ports = 443 on input only
conf "lock_ports = 443" "lock_forward = no"
run sync
check "lock sync exits 0" expect_rc 0
check "lock_input chain present" has_chain lock_input
check "no lock_forward chain with lock_forward = no" sh -c "! ip netns exec '$ORIGIN' nft list chain inet cdnallow lock_forward >/dev/null 2>&1"
check "report shows the lock" grep -q "origin lock: tcp 443 on input" "$WORK/out"
check "inside client reaches 443 (IPv4)" reach "$CIN" 104.16.0.1 443
check "inside client reaches 443 (IPv6)" reach "$CIN" 2400:cb00::1 443
check "outside client does not reach 443 (IPv4)" noreach "$COUT" 45.0.0.1 443
check "outside client does not reach 443 (IPv6)" noreach "$COUT" 2a01:4f8::1 443
check "inside client reaches the unlocked 8080" reach "$CIN" 104.16.0.1 8080
check "outside client reaches the unlocked 8080 (IPv4)" reach "$COUT" 45.0.0.1 8080
check "outside client reaches the unlocked 8080 (IPv6)" reach "$COUT" 2a01:4f8::1 8080
check "forwarding not locked: outside client reaches the published 8443" reach "$COUT" 45.0.0.1 8443
run sync --detailed-exitcode
check "next sync is a no-op" expect_rc 0

# 2. lock_forward = yes: only listed ports, by the port the client connects to
conf "lock_ports = 443" "lock_forward = yes"
run sync
check "lock_forward = yes: sync exits 0" expect_rc 0
check "lock_forward chain present" has_chain lock_forward
check "8443 is not listed: the outside client still reaches the container through it" \
	reach "$COUT" 45.0.0.1 8443
conf "lock_ports = 443 8443" "lock_forward = yes"
run sync
check "lock_ports = 443 8443: sync exits 0" expect_rc 0
check "report shows input+forward" grep -q "origin lock: tcp 443,8443 on input+forward" "$WORK/out"
check "forwarded path: inside client reaches the container via 8443" reach "$CIN" 104.16.0.1 8443
check "forwarded path: outside client does not reach the container via 8443" \
	noreach "$COUT" 45.0.0.1 8443
check "the container's own outgoing connections to port 443 are not locked" \
	reach "$CTR" 45.0.0.10 443
check "outside client still refused on 443" noreach "$COUT" 45.0.0.1 443

# 3. syncs with real list changes back to back; the inside client never notices
probe_start inside "$CIN" --timeout 2 104.16.0.1:443 '[2400:cb00::1]:443' 104.16.0.1:8443
probe_start outside "$COUT" --timeout 0.5 45.0.0.1:443 '[2a01:4f8::1]:443'
fails=0
changed=0
i=0
t0=$(date +%s)
while [ $i -lt "$SYNCS" ]; do
	if [ $((i % 2)) = 0 ]; then cf_publish "$DOC" "$CFA"; else cf_publish "$DOC" "$CFB"; fi
	run sync
	[ "$(rc)" = 0 ] || { fails=$((fails + 1)); cat "$WORK/err" >&2; }
	grep -q "applied" "$WORK/out" && changed=$((changed + 1))
	i=$((i + 1))
done
t1=$(date +%s)
IN=$(probe_stop inside)
OUT=$(probe_stop outside)
echo "# $SYNCS syncs in $((t1 - t0)) s, $changed applied a change, $fails failed"
echo "# inside client (443 v4+v6, 8443 forwarded): $IN" | head -n 1
echo "# outside client (443 v4+v6): $OUT" | head -n 1
check "$SYNCS syncs back to back all exit 0" [ "$fails" = 0 ]
check "every sync applied a real change (the client's range element is replaced)" \
	[ "$changed" = "$SYNCS" ]
check "inside client: connections made throughout" [ "$(count_of ok "$IN")" -gt 50 ]
check "inside client: zero refused" sh -c "[ '$(count_of refused "$IN")' = 0 ] || { echo '$IN'; exit 1; }"
check "inside client: zero timed out" sh -c "[ '$(count_of timeout "$IN")' = 0 ] || { echo '$IN'; exit 1; }"
check "inside client: zero other errors" [ "$(count_of error "$IN")" = 0 ]
check "outside client: zero accepted during the syncs" [ "$(count_of ok "$OUT")" = 0 ]

# 4. unlock opens at once; the next sync locks again
run unlock
check "unlock exits 0" expect_rc 0
check "unlock removed the lock chains" sh -c "! ip netns exec '$ORIGIN' nft list chain inet cdnallow lock_input >/dev/null 2>&1"
check "unlock left the sets" sh -c "ip netns exec '$ORIGIN' nft list set inet cdnallow allow_v4 | grep -q 104.16.0.0"
check "after unlock the outside client reaches 443 at once" reach "$COUT" 45.0.0.1 443
check "after unlock the outside client reaches 8443 at once" reach "$COUT" 45.0.0.1 8443
run sync
check "the next sync exits 0" expect_rc 0
check "the next sync says it put the lock back" grep -q "origin lock put back" "$WORK/out"
check "locked again: outside client refused on 443" noreach "$COUT" 45.0.0.1 443
check "locked again: inside client reaches 443" reach "$CIN" 104.16.0.1 443

# 5. removing the lock from the config removes the chains with the next sync
conf
run sync
check "lock removed from the config: sync exits 0" expect_rc 0
check "lock removed from the config: chains gone" sh -c "! ip netns exec '$ORIGIN' nft list chain inet cdnallow lock_input >/dev/null 2>&1"
check "lock removed from the config: outside client reaches 443" reach "$COUT" 45.0.0.1 443

# 6. the iptables backend's lock (ipset mode): same traffic results
if command -v iptables-restore >/dev/null && command -v ipset >/dev/null; then
	IPT="$WORK/ipt.conf"
	cf_config "$IPT" "max_shrink = 50%"
	sed -i 's/^backend = nftables$/backend = iptables/; s#^state_dir = .*#state_dir = '"$WORK"'/state-ipt#' "$IPT"
	printf 'mode = ipset\nlock_ports = 443 8443\nlock_forward = yes\n' >>"$IPT"
	irun() { nsx "$ORIGIN" "$CDNALLOW" -c "$IPT" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
	irun sync
	check "iptables lock: sync exits 0" expect_rc 0
	check "iptables lock: report shows the lock" grep -q "origin lock: tcp 443,8443 on input+forward" "$WORK/out"
	check "iptables lock: INPUT jumps to the lock first" sh -c "ip netns exec '$ORIGIN' iptables -S INPUT | sed -n 2p | grep -qx -- '-A INPUT -j CDNALLOW-LOCK'"
	check "iptables lock: inside client reaches 443 (IPv4)" reach "$CIN" 104.16.0.1 443
	check "iptables lock: inside client reaches 443 (IPv6)" reach "$CIN" 2400:cb00::1 443
	check "iptables lock: outside client does not reach 443 (IPv4)" noreach "$COUT" 45.0.0.1 443
	check "iptables lock: outside client does not reach 443 (IPv6)" noreach "$COUT" 2a01:4f8::1 443
	check "iptables lock: outside client reaches the unlocked 8080" reach "$COUT" 45.0.0.1 8080
	check "iptables lock: forwarded 8443 open to the inside client" reach "$CIN" 104.16.0.1 8443
	check "iptables lock: forwarded 8443 closed to the outside client" noreach "$COUT" 45.0.0.1 8443
	check "iptables lock: the container's outgoing 443 is not locked" reach "$CTR" 45.0.0.10 443
	irun sync --detailed-exitcode
	check "iptables lock: next sync is a no-op" expect_rc 0
	irun unlock
	check "iptables lock: unlock exits 0" expect_rc 0
	check "iptables lock: unlock opens 443 at once" reach "$COUT" 45.0.0.1 443
	check "iptables lock: unlock left the ipsets" sh -c "ip netns exec '$ORIGIN' ipset list cdnallow4 | grep -q 104.16.0.0"
	irun sync
	check "iptables lock: the next sync puts it back" grep -q "origin lock put back" "$WORK/out"
	check "iptables lock: locked again" noreach "$COUT" 45.0.0.1 443
	sed -i '/^lock_/d' "$IPT"
	irun sync
	check "iptables lock: removed from the config, the chains go" sh -c "! ip netns exec '$ORIGIN' iptables-save | grep -q LOCK"
	check "iptables lock: and 443 is open again" reach "$COUT" 45.0.0.1 443
else
	not_ok "iptables lock: iptables-restore and ipset are needed"
fi

# 7. rules and tables not ours are byte-identical
nsx "$ORIGIN" nft list table inet admin >"$WORK/admin2"
nsx "$ORIGIN" nft list table ip nat >"$WORK/nat2"
check "admin table byte-identical" cmp "$WORK/admin1" "$WORK/admin2"
check "nat table byte-identical" cmp "$WORK/nat1" "$WORK/nat2"

finish
