#!/bin/sh
# SPDX-License-Identifier: MIT
# The firewalld backend against a real firewalld (Debian's package) with its own system bus:
# a private mount, network and pid namespace (a tmpfs over /run for the bus socket, a scratch
# copy of /etc/firewalld over /etc/firewalld; everything started here dies with it). Real
# Cloudflare lists over HTTPS; firewall-cmd as the judge. Then faults, then live traffic.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
if [ "${CDNALLOW_IN_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || prereq_missing "root (for namespaces)"
	for c in firewalld firewall-cmd dbus-daemon unshare nft; do
		command -v "$c" >/dev/null || prereq_missing "$c (Debian: firewalld)"
	done
	CDNALLOW_IN_NETNS=1 exec unshare -m -n -p -f --mount-proc -- sh "$0" "$@"
fi
netns_enter "$@"

CF2015="$DATA/cloudflare/plug_cloudflare_2015-05-10_a48ec64"
CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
PROBE="$CDNALLOW_SRC/tests/integration/probe.py"
FWD_PID=""
CIN=fwd-cin
COUT=fwd-cout

fwd_cleanup() {
	ip netns del "$CIN" 2>/dev/null
	ip netns del "$COUT" 2>/dev/null
	fwd_stop
	cleanup
}
trap fwd_cleanup EXIT INT TERM

# Our own /run (the bus socket) and /etc/firewalld; never the host's.
mount --make-rprivate / || prereq_missing "a private mount namespace"
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/dbus "$WORK/etc-firewalld"
cp -a /etc/firewalld/. "$WORK/etc-firewalld/"
mount --bind "$WORK/etc-firewalld" /etc/firewalld
dbus-daemon --system --fork --nopidfile || prereq_missing "dbus-daemon --system"

fwd_start() {
	firewalld --nofork --nopid --log-target file --log-file "$WORK/firewalld.log" \
		>/dev/null 2>&1 </dev/null &
	FWD_PID=$!
	_i=0
	while [ $_i -lt 150 ]; do
		[ "$(firewall-cmd --state 2>/dev/null)" = running ] && return 0
		sleep 0.1
		_i=$((_i + 1))
	done
	tail -n 20 "$WORK/firewalld.log" >&2
	prereq_missing "firewalld did not start"
}

fwd_stop() {
	[ -n "$FWD_PID" ] || return 0
	kill -CONT "$FWD_PID" 2>/dev/null
	kill "$FWD_PID" 2>/dev/null
	wait "$FWD_PID" 2>/dev/null
	FWD_PID=""
}

fwd_start
"$CDNALLOW" --help >/dev/null 2>&1 || prereq_missing "the cdnallow binary"

# The admin's own configuration, which must never change: a service and a rich rule in the
# default zone, an ipset of their own, a second zone.
firewall-cmd -q --permanent --zone=public --add-service=http
firewall-cmd -q --permanent --zone=public \
	--add-rich-rule='rule family="ipv4" source address="198.51.100.0/24" service name="ssh" accept'
firewall-cmd -q --permanent --new-ipset=admin4 --type=hash:ip
firewall-cmd -q --permanent --ipset=admin4 --add-entry=192.0.2.7
firewall-cmd -q --permanent --new-zone=office
firewall-cmd -q --permanent --zone=office --add-port=8443/tcp
firewall-cmd -q --reload
cp /etc/firewalld/zones/public.xml "$WORK/public.xml.before"

# Every file of /etc/firewalld except ours and the zone that holds our rules
admin_sum() {
	(cd /etc/firewalld && find . -type f ! -path './ipsets/cdnallow*' ! -path './ipsets/fresh*' \
		! -name 'public.xml*' -exec sha256sum {} + | sort)
}
admin_sum >"$WORK/admin.before"
admin_same() {
	admin_sum >"$WORK/admin.now"
	cmp "$WORK/admin.before" "$WORK/admin.now" || return 1
	# the zone file: the admin's content, with only our rules added
	python3 - "$WORK/public.xml.before" /etc/firewalld/zones/public.xml <<'PY'
import sys, xml.etree.ElementTree as ET
def admin_part(path):
    root = ET.parse(path).getroot()
    for r in list(root.findall("rule")):
        s = r.find("source")
        if s is not None and (s.get("ipset") or "").startswith(("cdnallow", "fresh")):
            root.remove(r)
    for e in root.iter():
        e.text = (e.text or "").strip()
        e.tail = (e.tail or "").strip()
    return ET.tostring(root)
a, b = admin_part(sys.argv[1]), admin_part(sys.argv[2])
if a != b:
    print(a, b, sep="\n")
    sys.exit(1)
PY
}

DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2015"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
# fw_config [extra target lines...]
fw_config() {
	{
		echo "[cdnallow]"
		echo "state_dir = $WORK/state"
		echo "[source.cloudflare]"
		echo "provider = cloudflare"
		echo "url = $BASE/ips-v4 $BASE/ips-v6"
		echo "ca_file = $CA"
		echo "[target.fw]"
		echo "backend = firewalld"
		echo "sources = cloudflare"
		for l in "$@"; do echo "$l"; done
	} >"$CONF"
	chmod 600 "$CONF"
}
fw_config
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
rc() { cat "$WORK/rc"; }
expect_rc() { [ "$(rc)" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(rc) != $1"; return 1; }; }
expected() { { cat "$1/ips-v$2"; echo; } | sed '/^$/d' | sort; }
# entries IPSET [--permanent]
entries() { firewall-cmd ${2:-} --ipset="$1" --get-entries | tr ' ' '\n' | sed '/^$/d' | sort; }
# holds DATADIR [--permanent]: runtime and permanent ipsets (or only the permanent ones)
# hold exactly that list
holds() {
	expected "$1" 4 >"$WORK/exp4"
	expected "$1" 6 >"$WORK/exp6"
	scopes="'' --permanent"
	[ "${2:-}" = --permanent ] && scopes=--permanent
	for scope in $scopes; do
		[ "$scope" = "''" ] && scope=""
		entries cdnallow4 $scope >"$WORK/got4" && entries cdnallow6 $scope >"$WORK/got6" &&
			diff "$WORK/exp4" "$WORK/got4" && diff "$WORK/exp6" "$WORK/got6" ||
			{ echo "scope ${scope:-runtime} differs"; return 1; }
	done
}
# rules_once: each of our 4 rules exactly once, runtime and permanent
rules_once() {
	for scope in "" --permanent; do
		firewall-cmd $scope --zone=public --list-rich-rules >"$WORK/rules"
		for fam in 4 6; do
			for port in 80 443; do
				n=$(grep -c "source ipset=\"cdnallow$fam\" port port=\"$port\" protocol=\"tcp\" accept" "$WORK/rules")
				[ "$n" = 1 ] || { cat "$WORK/rules"; echo "${scope:-runtime}: $fam/$port x$n"; return 1; }
			done
		done
	done
}

# 1. first sync: both ipsets created and filled, the rules added, nothing else changed
run sync --json
check "first sync exits 0" expect_rc 0
check "runtime and permanent ipsets hold exactly the 2015 list" holds "$CF2015"
check "our rich rules are present once each (runtime and permanent)" rules_once
check "the admin's files are byte-identical (zone: only our rules added)" admin_same
check "the ipset is firewalld's own hash:net, family inet6" \
	grep -q '<ipset type="hash:net">' /etc/firewalld/ipsets/cdnallow6.xml
check "... with family inet6" grep -q 'name="family" value="inet6"' /etc/firewalld/ipsets/cdnallow6.xml
check "the kernel set (inet firewalld) holds the list" sh -c \
	"nft list set inet firewalld cdnallow4 | grep -q 199.27.128.0/21"
check "the admin's ipset is untouched" sh -c "[ \"\$(firewall-cmd --ipset=admin4 --get-entries)\" = 192.0.2.7 ]"

# 2. a second run changes nothing and says so
nft list ruleset >"$WORK/rs1"
run sync --json
check "unchanged run exits 0" expect_rc 0
check "unchanged run reports unchanged" grep -q '"status":"unchanged"' "$WORK/out"
nft list ruleset >"$WORK/rs2"
check "unchanged run leaves the kernel ruleset identical" cmp "$WORK/rs1" "$WORK/rs2"
run show
check "show lists the runtime entries" grep -q "^  2405:b500::/32" "$WORK/out"

# 3. firewall-cmd --reload and a restart of firewalld keep everything
firewall-cmd -q --reload
check "after --reload: the ipsets still hold the list" holds "$CF2015"
check "after --reload: rules still once each" rules_once
run sync
check "after --reload: sync finds nothing to do" grep -q "unchanged" "$WORK/out"
fwd_stop
fwd_start
check "after a restart: the ipsets still hold the list" holds "$CF2015"
check "after a restart: rules still once each" rules_once
run sync
check "after a restart: sync exits 0 with nothing to do" grep -q "unchanged" "$WORK/out"

# 4. a changed list (the real 2015 -> 2021 change) applies only the change
cf_publish "$DOC" "$CF2021"
nft monitor >"$WORK/monitor" 2>&1 &
MON=$!
sleep 0.5
run sync --force --json
sleep 0.5
kill $MON
wait $MON 2>/dev/null
check "changed list: sync exits 0" expect_rc 0
check "changed list: JSON names the removed prefixes" \
	grep -q '"removed":\["104.16.0.0/12","199.27.128.0/21"\]' "$WORK/out"
check "runtime and permanent ipsets hold exactly the 2021 list" holds "$CF2021"
check "the kernel saw 2 deletions and 5 additions, no flush" sh -c \
	"[ \$(grep -c '^delete element inet firewalld cdnallow' '$WORK/monitor') = 2 ] &&
	 [ \$(grep -c '^add element inet firewalld cdnallow' '$WORK/monitor') = 5 ] &&
	 ! grep -q 'flush\|173.245.48.0' '$WORK/monitor'"
check "rules still once each" rules_once
check "the admin's files are still byte-identical" admin_same

# 5. drift: our rules and permanent entries removed by hand are put back, nothing else
firewall-cmd -q --zone=public --remove-rich-rule='rule family="ipv4" source ipset="cdnallow4" port port="443" protocol="tcp" accept'
firewall-cmd -q --permanent --ipset=cdnallow6 --remove-entry=2c0f:f248::/32
run sync
check "drift: sync exits 0" expect_rc 0
check "drift: the report says what was put back" \
	grep -q "firewalld permanent ipsets and rich rules put back" "$WORK/out"
check "drift: rules once each again" rules_once
check "drift: the permanent ipset holds the list again" holds "$CF2021"

# 6. faults: each exits 69 naming firewalld and the cause, with the firewall as it was
snapshot() {
	nft list ruleset >"$WORK/rs.$1"
	for s in cdnallow4 cdnallow6; do
		entries $s
		entries $s --permanent
	done >"$WORK/ent.$1"
	tree_sum "$WORK/state" >"$WORK/st.$1"
}
unchanged_since() {
	snapshot now
	cmp "$WORK/rs.$1" "$WORK/rs.now" && cmp "$WORK/ent.$1" "$WORK/ent.now" &&
		cmp "$WORK/st.$1" "$WORK/st.now"
}
fault() { # NAME GREP [sync args]
	_n=$1
	_g=$2
	shift 2
	run sync "$@"
	check "$_n: exits 69" expect_rc 69
	check "$_n: the message names firewalld and the cause" grep -q "$_g" "$WORK/err"
}
snapshot good
cf_publish "$DOC" "$CF2015"
fw_config "ipset_v4 = admin4"
fault "an ipset name taken by another type" "firewalld already has a runtime ipset admin4 of type hash:ip" --force
check "... nothing changed" unchanged_since good
fw_config "zone = nosuchzone"
fault "a zone firewalld does not have" "firewalld has no zone nosuchzone" --force
check "... nothing changed" unchanged_since good
fw_config "dbus_timeout = 2s"
kill -STOP "$FWD_PID"
t0=$(date +%s)
fault "firewalld hung (SIGSTOP)" "firewalld did not answer .* within 2 s" --force
t1=$(date +%s)
kill -CONT "$FWD_PID"
check "... gave up after the timeout, not later" [ $((t1 - t0)) -le 6 ]
check "... nothing changed" unchanged_since good
# firewalld refuses the permanent change (its ipsets directory read-only): runtime untouched
mount --bind /etc/firewalld/ipsets /etc/firewalld/ipsets
mount -o remount,bind,ro /etc/firewalld/ipsets
fault "firewalld cannot save the permanent ipset" "firewalld: setEntries cdnallow" --force
umount /etc/firewalld/ipsets
check "... nothing changed (runtime, permanent, state)" unchanged_since good
# firewalld refuses the runtime change (its kernel table was flushed behind its back):
# the permanent change made first is put back
nft delete table inet firewalld
fault "firewalld refuses a runtime entry" "firewalld: removeEntry cdnallow4" --force
check "... the permanent ipsets are as they were" holds "$CF2021" --permanent
# (firewall-cmd --reload cannot recover from a deleted table: it stays in its DROP policy)
fwd_stop
fwd_start
run sync --force
check "after the admin restarts firewalld the next sync converges (exit 0)" expect_rc 0
check "... to the new list, runtime and permanent" holds "$CF2015"
snapshot good
fwd_stop
fault "firewalld stopped" "firewalld is not running"
state_same() { tree_sum "$WORK/state" | cmp - "$WORK/st.good"; }
check "... the state dir is unchanged" state_same
fwd_start
run sync
check "firewalld back: the next sync exits 0" expect_rc 0
check "... with nothing to do" grep -q unchanged "$WORK/out"

# 7. diff changes nothing; reload = no never reloads and leaves the permanent part in place
cf_publish "$DOC" "$CF2021"
snapshot good
run diff --force
check "diff exits 0 and changes nothing" sh -c "[ \$(cat '$WORK/rc') = 0 ]"
check "... nothing changed" unchanged_since good
fw_config "ipset_v4 = fresh4" "ipset_v6 = fresh6" "ports = 443" "reload = no"
rm -rf "$WORK/state"
fault "reload = no with a new ipset" "reload = no"
check "... the permanent ipsets exist, the runtime ones not yet" sh -c \
	"firewall-cmd --permanent --get-ipsets | grep -qw fresh4 && ! firewall-cmd --get-ipsets | grep -qw fresh4"
firewall-cmd -q --reload
run sync
check "... after the admin's reload: sync exits 0" expect_rc 0
check "... with the list in the runtime" sh -c "firewall-cmd --ipset=fresh4 --get-entries | grep -q 104.24.0.0/14"
check "the admin's files are still byte-identical" admin_same

# 8. traffic: a CDN client connects to 443 while firewalld reloads and cdnallow syncs
# 100%: the 2015 <-> 2021 switches lose 64% of the IPv6 addresses (the guard is guards.sh's)
fw_config "max_shrink = 100%"
rm -rf "$WORK/state"
run sync --force
ip netns add "$CIN" && ip netns add "$COUT" || prereq_missing "ip netns add"
for n in "$CIN" "$COUT"; do ip -n "$n" link set lo up; done
ip link add v-in type veth peer name eth0 netns "$CIN"
ip link add v-out type veth peer name eth0 netns "$COUT"
ip link set v-in up
ip link set v-out up
ip -n "$CIN" link set eth0 up
ip -n "$COUT" link set eth0 up
ip addr add 173.245.48.1/24 dev v-in   # in 173.245.48.0/20, in every Cloudflare list
ip -n "$CIN" addr add 173.245.48.10/24 dev eth0
ip addr add 104.16.0.1/24 dev v-in     # in 104.16.0.0/12 (2015), then 104.16.0.0/13 (2021)
ip -n "$CIN" addr add 104.16.0.10/24 dev eth0
ip addr add 45.0.0.1/24 dev v-out
ip -n "$COUT" addr add 45.0.0.10/24 dev eth0
mkdir -p "$WORK/www"
echo hello >"$WORK/www/index.html"
python3 -m http.server 443 --bind 0.0.0.0 --directory "$WORK/www" >/dev/null 2>&1 </dev/null &
WWW=$!
i=0
until python3 "$PROBE" once 127.0.0.1 443 1 >/dev/null 2>&1 || [ $i -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
check "traffic: the CDN client reaches 443" ip netns exec "$CIN" python3 "$PROBE" once 173.245.48.1 443 2
check "traffic: the outside client does not" sh -c \
	"! ip netns exec '$COUT' python3 '$PROBE' once 45.0.0.1 443 1"
# traffic_phase NAME COMMAND...: the command runs 20 times while both clients connect
traffic_phase() {
	_ph=$1
	shift
	rm -f "$WORK"/in.* "$WORK"/out.* "$WORK"/rep.*
	ip netns exec "$CIN" python3 "$PROBE" loop "$WORK/in.stop" "$WORK/in.out" --timeout 3 \
		173.245.48.1:443 >/dev/null 2>&1 </dev/null &
	_p1=$!
	# a client in the prefix that changes shape: measured, not judged (see the README)
	ip netns exec "$CIN" python3 "$PROBE" loop "$WORK/rep.stop" "$WORK/rep.out" --timeout 3 \
		104.16.0.1:443 >/dev/null 2>&1 </dev/null &
	_p3=$!
	ip netns exec "$COUT" python3 "$PROBE" loop "$WORK/out.stop" "$WORK/out.out" --timeout 0.3 \
		45.0.0.1:443 >/dev/null 2>&1 </dev/null &
	_p2=$!
	_bad=0
	for _i in $(seq 20); do "$@" || _bad=$((_bad + 1)); done
	touch "$WORK/in.stop" "$WORK/out.stop" "$WORK/rep.stop"
	wait $_p1 $_p2 $_p3
	IN=$(head -n 1 "$WORK/in.out")
	OUT=$(head -n 1 "$WORK/out.out")
	echo "# $_ph: CDN client: $IN; outside client: $OUT"
	echo "# $_ph: CDN client in 104.16.0.0/12 -> /13 (measured only): $(head -n 1 "$WORK/rep.out")"
	check "$_ph: every run succeeded" [ "$_bad" = 0 ]
	check "$_ph: the CDN client made connections (how many depends on the machine's load)" [ "$(count_in ok "$IN")" -gt 0 ]
	check "$_ph: the CDN client was never refused" [ "$(count_in refused "$IN")" = 0 ]
	check "$_ph: the CDN client got no other error" [ "$(count_in error "$IN")" = 0 ]
	check "$_ph: the outside client never got in" [ "$(count_in ok "$OUT")" = 0 ]
}
count_in() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
flip=0
sync_flip() {
	if [ $flip = 0 ]; then cf_publish "$DOC" "$CF2015"; flip=1; else cf_publish "$DOC" "$CF2021"; flip=0; fi
	"$CDNALLOW" -c "$CONF" sync >/dev/null 2>"$WORK/sync.err" || { cat "$WORK/sync.err" >&2; return 1; }
}
traffic_phase "firewall-cmd --reload x20" firewall-cmd -q --reload
traffic_phase "syncs alternating 2015/2021 x20" sync_flip
kill $WWW 2>/dev/null
wait $WWW 2>/dev/null

finish
