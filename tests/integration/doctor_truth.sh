#!/bin/sh
# SPDX-License-Identifier: MIT
# Ground truth for `cdnallow doctor`: a corpus of real rulesets, each made by the tool that
# makes it (ufw, firewalld with its own dbus-daemon, iptables-nft, iptables-legacy, nft -f,
# cdnallow's own origin lock), loaded in turn into an "origin" namespace joined by veth to a
# CDN client (104.16.0.10, 2400:cb00::10) and a non-CDN client (45.0.0.10, 2a01:4f8::10).
# For every ruleset and probe (each client, IPv4 and IPv6, TCP ports 80 and 443, and UDP 443
# where cdnallow's lock covers it) the packet's fate is measured by a real connection and
# compared with doctor's `--ip` trace for it. The agreement table is printed; any wrong
# verdict fails the test, and so does an unsure share over 5%. Everything runs in private
# mount, network and pid namespaces with scratch /run, /etc/ufw, /etc/default/ufw and
# /etc/firewalld: the host's firewall and files are never touched.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
. "$CDNALLOW_SRC/tests/integration/ufw_lib.sh"
if [ "${CDNALLOW_IN_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || prereq_missing "root (for namespaces)"
	for p in unshare ip nft ufw ipset iptables-nft ip6tables-nft iptables-legacy \
		ip6tables-legacy firewalld firewall-cmd dbus-daemon python3; do
		command -v "$p" >/dev/null || prereq_missing "$p (Debian: ufw, ipset, iptables, firewalld)"
	done
	[ -x /lib/ufw/ufw-init ] && [ -s /usr/share/ufw/before.init ] ||
		prereq_missing "the ufw package's ufw-init and templates"
	[ -s /usr/share/doc/nftables/examples/workstation.nft ] ||
		prereq_missing "nftables' examples (Debian: nftables)"
	CDNALLOW_IN_NETNS=1 exec unshare -m -n -p -f --mount-proc -- sh "$0" "$@"
fi
netns_enter "$@"
mount --make-rprivate / || prereq_missing "a private mount namespace"
ufw_scratch
. "$CDNALLOW_SRC/tests/integration/traffic_lib.sh"
FWD_PID=""
truth_cleanup() {
	[ -n "$FWD_PID" ] && kill "$FWD_PID" 2>/dev/null && wait "$FWD_PID" 2>/dev/null
	traffic_cleanup
}
trap truth_cleanup EXIT INT TERM

# The CDN lists (Cloudflare's, which hold 104.16.0.0/13 and 2400:cb00::/32), synced once
# here; the origin's lock is then applied from the cache with `cdnallow restore`.
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
https_start "$DOC"
CONF="$WORK/plain.conf"
LOCK="$WORK/lock.conf"
cf_config "$CONF"
cf_config "$LOCK" "lock_ports = 80 443" "lock_udp = 443"
"$CDNALLOW" -c "$CONF" fetch >"$WORK/fetch.out" 2>&1 || { cat "$WORK/fetch.out"; prereq_missing "a first fetch"; }
traffic_topology
O="$ORIGIN"
serve "$O" 80
serve "$O" 443
wait_port "$CIN" 104.16.0.1 443 || prereq_missing "the origin's web server"
wait_port "$CIN" 104.16.0.1 80 || prereq_missing "the origin's web server on 80"
# UDP 443 (HTTP/3's port): an echo server; a probe passes when its datagram comes back
ip netns exec "$O" python3 -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 443))
while True:
    d, a = s.recvfrom(64)
    s.sendto(d, a)
' >/dev/null 2>&1 </dev/null &
bg_add $!
udp_probe() { # NS HOST: "ok" when the datagram to HOST:443/udp comes back
	nsx "$1" python3 -c '
import socket, sys
h = sys.argv[1]
s = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.5)
s.sendto(b"probe", (h, 443))
try:
    print("ok" if s.recv(64) == b"probe" else "error")
except OSError:
    print("timeout")
' "$2"
}
i=0
until [ "$(udp_probe "$CIN" 104.16.0.1)" = ok ] || [ $i -ge 20 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(udp_probe "$CIN" 104.16.0.1)" = ok ] || prereq_missing "the origin's UDP echo server"

# Probes: "SRC-NS SRC DST" for each client and family; each goes to ports 80 and 443.
PROBES="$CIN 104.16.0.10 104.16.0.1
$CIN 2400:cb00::10 2400:cb00::1
$COUT 45.0.0.10 45.0.0.1
$COUT 2a01:4f8::10 2a01:4f8::1"
RES="$WORK/results"
: >"$RES"

# measure NAME [udp]: each probe's fate by a real connection (TCP 80 and 443, and UDP 443
# with udp: where cdnallow's lock covers it, doctor then reads the lock's config), doctor's
# trace for the same source and port, one line per probe in RES:
# NAME SRC PORT FATE VERDICT MESSAGE
measure() {
	_name=$1
	_udp=${2:-}
	_conf=$CONF
	[ -n "$_udp" ] && _conf=$LOCK
	_pids=""
	echo "$PROBES" | while read -r _ns _src _dst; do
		for _p in 80 443; do
			nsx "$_ns" python3 "$PROBE" once "$_dst" "$_p" 1.5 \
				>"$WORK/fate.$_src.$_p" 2>&1 </dev/null &
		done
		[ -n "$_udp" ] && udp_probe "$_ns" "$_dst" >"$WORK/fate.$_src.443u" 2>&1 &
		wait
	done &
	_pids=$!
	_ips=$(echo "$PROBES" | while read -r _ns _src _dst; do printf ' --ip %s' "$_src"; done)
	# shellcheck disable=SC2086
	nsx "$O" "$CDNALLOW" -c "$_conf" --json doctor $_ips --port 80 --port 443 \
		>"$WORK/doctor.$_name.json" 2>"$WORK/doctor.$_name.err"
	wait $_pids
	python3 - "$_name" "$WORK" "$RES" "$_udp" <<'PY'
import json, sys
name, work, res, udp = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
d = json.load(open("%s/doctor.%s.json" % (work, name)))
ip = {f["subject"]: f["message"] for f in d["findings"] if f["check"] == "ip"}
with open(res + ".seconds", "a") as out:
    out.write("%s\t%.3f\n" % (name, d["seconds"]))
with open(res, "a") as out:
    for src in ("104.16.0.10", "2400:cb00::10", "45.0.0.10", "2a01:4f8::10"):
        for port in ["80", "443"] + (["443/udp"] if udp else []):
            f = port.replace("/udp", "u")
            fate = open("%s/fate.%s.%s" % (work, src, f)).read().strip()
            fate = "pass" if fate == "ok" else "drop"
            msg = ip.get("%s to port %s" % (src, port), "(no trace)")
            if msg.startswith("dropped by"):
                v = "drop"
            elif msg.startswith("may be dropped"):
                v = "unsure"
            elif msg.startswith("accepted by") or msg.startswith("no rule decides"):
                v = "pass"
            else:
                v = "none"
            out.write("%s\t%s\t%s\t%s\t%s\t%s\n" % (name, src, port, fate, v, msg))
PY
}

# reset: the origin's firewall back to nothing (UFW off, no tables, no ipsets, no legacy rules)
reset() {
	nsx "$O" ufw disable >/dev/null 2>&1
	for f in before.rules before6.rules after.rules after6.rules user.rules user6.rules; do
		cp /usr/share/ufw/iptables/$f "$UFWDIR/$f"
	done
	nsx "$O" nft flush ruleset
	for t in iptables-legacy ip6tables-legacy; do
		nsx "$O" $t -P INPUT ACCEPT 2>/dev/null
		nsx "$O" $t -F 2>/dev/null
		nsx "$O" $t -X 2>/dev/null
	done
	nsx "$O" ipset destroy 2>/dev/null
	return 0
}

ufw_on() { nsx "$O" ufw --force enable >/dev/null && nsx "$O" ufw default deny incoming >/dev/null; }

# --- UFW -----------------------------------------------------------------------------------
reset
ufw_on
measure ufw-default-deny
nsx "$O" ufw deny 80/tcp >/dev/null
nsx "$O" ufw allow 443/tcp >/dev/null
measure ufw-deny80-allow443
reset
ufw_on
nsx "$O" ufw allow from 104.16.0.0/13 to any port 443 proto tcp >/dev/null
nsx "$O" ufw allow from 2400:cb00::/32 to any port 443 proto tcp >/dev/null
nsx "$O" ufw allow from 45.0.0.0/24 to any port 80 proto tcp >/dev/null
measure ufw-allow-from-cidr
reset
ufw_on
nsx "$O" ufw limit 443/tcp >/dev/null
nsx "$O" ufw allow 80/tcp >/dev/null
measure ufw-limit

# --- iptables-nft with the common matches ------------------------------------------------
reset
nsx "$O" ipset create cdn4 hash:net family inet
nsx "$O" ipset add cdn4 104.16.0.0/13
nsx "$O" ipset create cdn6 hash:net family inet6
nsx "$O" ipset add cdn6 2400:cb00::/32
nsx "$O" ipset create ban4 hash:ip family inet
nsx "$O" ipset add ban4 45.0.0.99
for v in 4 6; do
	if [ $v = 4 ]; then ipt=iptables-nft; else ipt=ip6tables-nft; fi
	nsx "$O" $ipt -P INPUT DROP
	nsx "$O" $ipt -A INPUT -i lo -j ACCEPT
	nsx "$O" $ipt -A INPUT -m conntrack --ctstate INVALID -j DROP
	nsx "$O" $ipt -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	nsx "$O" $ipt -A INPUT -m addrtype --dst-type MULTICAST -j DROP
	nsx "$O" $ipt -A INPUT -p tcp --dport 22 -m recent --name ssh --update --seconds 60 --hitcount 4 -j DROP
	nsx "$O" $ipt -A INPUT -p tcp -m multiport --dports 22,25 -m limit --limit 10/min -j ACCEPT
	nsx "$O" $ipt -A INPUT -p tcp -m multiport --dports 80,443 -m set --match-set cdn$v src -m comment --comment "cdn web" -j ACCEPT
done
nsx "$O" iptables-nft -A INPUT -m set --match-set ban4 src -j DROP
nsx "$O" iptables-nft -A INPUT -p tcp --dport 80 -m iprange --src-range 45.0.0.5-45.0.0.20 -j ACCEPT
nsx "$O" ip6tables-nft -A INPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset
measure iptables-nft-matches
# cdnallow's own origin lock on top of an open iptables-nft table
reset
nsx "$O" iptables-nft -A INPUT -m conntrack --ctstate NEW -p tcp -m multiport --dports 80,443 -j ACCEPT
nsx "$O" "$CDNALLOW" -c "$LOCK" restore >"$WORK/restore.out" 2>&1 || cat "$WORK/restore.out"
measure iptables-nft-plus-lock udp

# --- iptables-legacy -----------------------------------------------------------------------
reset
for ipt in iptables-legacy ip6tables-legacy; do
	nsx "$O" $ipt -P INPUT DROP
	nsx "$O" $ipt -A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
	nsx "$O" $ipt -A INPUT -p tcp --dport 443 -j ACCEPT
done
nsx "$O" iptables-legacy -A INPUT -s 104.16.0.0/13 -p tcp --dport 80 -j ACCEPT
measure iptables-legacy

# --- Docker-style layout (iptables-nft): DOCKER-USER, DOCKER, isolation chains, FORWARD ----
reset
for c in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
	nsx "$O" iptables-nft -N $c
done
nsx "$O" iptables-nft -P FORWARD DROP
nsx "$O" iptables-nft -A FORWARD -j DOCKER-USER
nsx "$O" iptables-nft -A FORWARD -j DOCKER-ISOLATION-STAGE-1
nsx "$O" iptables-nft -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
nsx "$O" iptables-nft -A FORWARD -o docker0 -j DOCKER
nsx "$O" iptables-nft -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
nsx "$O" iptables-nft -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
nsx "$O" iptables-nft -A DOCKER-ISOLATION-STAGE-1 -j RETURN
nsx "$O" iptables-nft -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
nsx "$O" iptables-nft -A DOCKER-ISOLATION-STAGE-2 -j RETURN
nsx "$O" iptables-nft -A DOCKER-USER -s 45.0.0.0/24 -j DROP
nsx "$O" iptables-nft -A DOCKER-USER -j RETURN
nsx "$O" iptables-nft -t nat -N DOCKER
nsx "$O" iptables-nft -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
nsx "$O" iptables-nft -t nat -A DOCKER -i docker0 -j RETURN
nsx "$O" iptables-nft -P INPUT DROP
nsx "$O" iptables-nft -A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
nsx "$O" iptables-nft -A INPUT -p tcp -m tcp --dport 443 -j ACCEPT
nsx "$O" iptables-nft -A INPUT -s 104.16.0.0/13 -p tcp -m tcp --dport 80 -j ACCEPT
measure docker-layout

# --- CSF-style chains (iptables-nft) --------------------------------------------------------
reset
for v in 4 6; do
	if [ $v = 4 ]; then ipt=iptables-nft; cdn=104.16.0.0/13; bad=45.0.0.0/24; else
		ipt=ip6tables-nft; cdn=2400:cb00::/32; bad=2a01:4f8::/64; fi
	for c in LOCALINPUT ALLOWIN DENYIN INVALID INVDROP LOGDROPIN; do nsx "$O" $ipt -N $c; done
	nsx "$O" $ipt -P INPUT DROP
	nsx "$O" $ipt -A INPUT -i lo -j ACCEPT
	nsx "$O" $ipt -A INPUT ! -i lo -j LOCALINPUT
	nsx "$O" $ipt -A INPUT ! -i lo -j INVALID
	nsx "$O" $ipt -A LOCALINPUT ! -i lo -j ALLOWIN
	nsx "$O" $ipt -A LOCALINPUT ! -i lo -j DENYIN
	nsx "$O" $ipt -A ALLOWIN ! -i lo -s $cdn -j ACCEPT
	nsx "$O" $ipt -A DENYIN ! -i lo -s $bad -j DROP
	nsx "$O" $ipt -A INVALID -m state --state INVALID -j INVDROP
	nsx "$O" $ipt -A INVALID -p tcp --tcp-flags ALL NONE -j INVDROP
	nsx "$O" $ipt -A INVALID -p tcp --tcp-flags SYN,FIN SYN,FIN -j INVDROP
	nsx "$O" $ipt -A INVALID -p tcp ! --syn -m state --state NEW -j INVDROP
	nsx "$O" $ipt -A INVDROP -j DROP
	nsx "$O" $ipt -A INPUT ! -i lo -m state --state RELATED,ESTABLISHED -j ACCEPT
	nsx "$O" $ipt -A INPUT ! -i lo -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT
	nsx "$O" $ipt -A INPUT ! -i lo -j LOGDROPIN
	nsx "$O" $ipt -A LOGDROPIN -p tcp -m limit --limit 30/min -j LOG --log-prefix "Firewall: *TCP_IN Blocked* "
	nsx "$O" $ipt -A LOGDROPIN -j DROP
done
measure csf-layout

# --- nft -f: Debian's nftables.conf and examples, maps, vmaps, concatenations, jumps --------
reset
nsx "$O" nft -f /etc/nftables.conf
measure debian-nftables-conf
reset
nsx "$O" nft -f /usr/share/doc/nftables/examples/workstation.nft
measure debian-workstation
reset
sed 's/^\t\t#tcp dport { 22, 80, 443 }/\t\ttcp dport { 22, 80, 443 }/' \
	/usr/share/doc/nftables/examples/workstation.nft >"$WORK/workstation-web.nft"
nsx "$O" nft -f "$WORK/workstation-web.nft"
measure debian-workstation-web
reset
nsx "$O" nft -f - <<'NFT'
table inet edge {
	set cdn4 { type ipv4_addr; flags interval; elements = { 104.16.0.0/13 } }
	set cdn6 { type ipv6_addr; flags interval; elements = { 2400:cb00::/32 } }
	set pairs { type ipv4_addr . inet_service; flags interval; elements = { 45.0.0.0/24 . 80 } }
	map web { type inet_service : verdict; elements = { 80 : jump cdnonly, 443 : jump cdnonly } }
	chain deny { reject with tcp reset; }
	chain cdnonly {
		ip saddr @cdn4 accept
		ip6 saddr @cdn6 accept
		ip saddr . tcp dport @pairs accept
		goto deny
	}
	chain input {
		type filter hook input priority filter; policy drop;
		iif lo accept
		ct state vmap { established : accept, related : accept, invalid : drop }
		meta l4proto tcp tcp dport vmap @web
	}
}
NFT
measure nft-maps-vmaps-concat
nsx "$O" "$CDNALLOW" -c "$LOCK" restore >"$WORK/restore.out" 2>&1 || cat "$WORK/restore.out"
measure nft-maps-plus-lock udp
reset
nsx "$O" "$CDNALLOW" -c "$LOCK" restore >"$WORK/restore.out" 2>&1 || cat "$WORK/restore.out"
measure cdnallow-lock-only udp

# --- firewalld (its own system bus, scratch /etc/firewalld) ----------------------------------
reset
mkdir -p /run/dbus "$WORK/etc-firewalld"
cp -a /etc/firewalld/. "$WORK/etc-firewalld/"
mount --bind "$WORK/etc-firewalld" /etc/firewalld
nsx "$O" dbus-daemon --system --fork --nopidfile || prereq_missing "dbus-daemon --system"
ip netns exec "$O" firewalld --nofork --nopid --log-target file \
	--log-file "$WORK/firewalld.log" >/dev/null 2>&1 </dev/null &
FWD_PID=$!
fwc() { nsx "$O" firewall-cmd -q "$@"; }
i=0
until [ "$(nsx "$O" firewall-cmd --state 2>/dev/null)" = running ] || [ $i -ge 150 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(nsx "$O" firewall-cmd --state 2>/dev/null)" = running ] || prereq_missing "firewalld did not start"
measure firewalld-default-zone
fwc --zone=public --add-service=https
measure firewalld-https
fwc --zone=public --remove-service=https
fwc --new-ipset=cdn4 --type=hash:net --permanent
fwc --reload
fwc --ipset=cdn4 --add-entry=104.16.0.0/13
fwc --zone=public --add-rich-rule='rule family="ipv4" source ipset="cdn4" port port="443" protocol="tcp" accept'
measure firewalld-rich-ipset
fwc --zone=public --remove-rich-rule='rule family="ipv4" source ipset="cdn4" port port="443" protocol="tcp" accept'
fwc --zone=trusted --add-source=104.16.0.0/13
fwc --zone=trusted --add-source=2400:cb00::/32
measure firewalld-source-zone

# --- the agreement table --------------------------------------------------------------------
python3 - "$RES" >"$WORK/table" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t", 5) for l in open(sys.argv[1])]
secs = dict(l.split() for l in open(sys.argv[1] + ".seconds"))
sets = []
for r in rows:
    if r[0] not in sets:
        sets.append(r[0])
agree = [r for r in rows if r[3] == r[4]]
unsure = [r for r in rows if r[4] in ("unsure", "none")]
wrong = [r for r in rows if r[4] not in ("unsure", "none") and r[3] != r[4]]
print("# %-26s %6s %6s %6s %6s %9s" % ("ruleset", "probes", "agree", "wrong", "unsure",
      "doctor s"))
for s in sets:
    rs = [r for r in rows if r[0] == s]
    print("# %-26s %6d %6d %6d %6d %9s" % (s, len(rs), sum(r[3] == r[4] for r in rs),
          sum(r in wrong for r in rs), sum(r in unsure for r in rs), secs.get(s, "?")))
print("# %-26s %6d %6d %6d %6d" % ("total (%d rulesets)" % len(sets), len(rows), len(agree),
      len(wrong), len(unsure)))
share = 100.0 * len(unsure) / max(len(rows), 1)
print("# unsure: %.1f%% of probes (goal: at most 5%%)" % share)
for r in wrong:
    print("# WRONG %s %s port %s: fate %s, doctor %s: %s" % (r[0], r[1], r[2], r[3], r[4], r[5]))
for r in unsure:
    print("# UNSURE %s %s port %s: fate %s: %s" % (r[0], r[1], r[2], r[3], r[5]))
print("# measured fates: %d pass, %d drop" % (sum(r[3] == "pass" for r in rows),
      sum(r[3] == "drop" for r in rows)))
print("# doctor's longest run: %.3f s" % max(float(v) for v in secs.values()))
print("WRONG=%d" % len(wrong))
print("UNSURE=%d" % len(unsure))
print("PROBES=%d" % len(rows))
PY
grep '^#' "$WORK/table"
n=$(sed -n 's/^PROBES=//p' "$WORK/table")
w=$(sed -n 's/^WRONG=//p' "$WORK/table")
check "every probe was measured (19 rulesets x 8 TCP probes, 3 locks x 4 UDP probes)" \
	test "$n" = 164
u=$(sed -n 's/^UNSURE=//p' "$WORK/table")
check "doctor's verdict agrees with the packet's fate: no wrong verdict" test "$w" = 0
check "doctor is unsure on at most 5% of the probes" test $((u * 100)) -le $((n * 5))
finish
