#!/bin/sh
# SPDX-License-Identifier: MIT
# The iptables backend on a host whose firewall is Debian's netfilter-persistent
# (iptables-persistent: /etc/iptables/rules.v4 and rules.v6). Loading those files replaces the
# whole filter table: cdnallow's jump, chain and origin lock go unless the file was saved with
# them; the ipsets stay. At boot the sets are gone too, and a rules.v4 saved with rules that
# match them does not load at all. The real netfilter-persistent and its real plugins run in
# a private mount + network namespace (scratch /etc/iptables, plugins.d and
# /etc/default/netfilter-persistent, never the host's), first without cdnallow's plugins
# (what survives is printed), then with contrib/netfilter-persistent's (asserted). Then live
# traffic: a client inside the list connects to 443 throughout 20 reloads.
. "$CDNALLOW_SRC/tests/integration/lib.sh"

# ufw Breaks netfilter-persistent and iptables-persistent: they cannot be installed beside it.
# contrib/deps.sh keeps their .debs; their files are overlaid on /etc and /usr/share in this
# test's own mount namespace only, and /usr/sbin/netfilter-persistent runs from the extracted
# copy (byte for byte the package's, as are 15-ip4tables and 25-ip6tables).
DEBS=${CDNALLOW_TEST_CACHE:-/var/cache/cdnallow-test}/debs
if [ "${CDNALLOW_IN_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || prereq_missing "root (for namespaces)"
	for p in unshare dpkg-deb ipset iptables-restore ip6tables-restore; do
		command -v "$p" >/dev/null || prereq_missing "$p"
	done
	for p in netfilter-persistent iptables-persistent; do
		ls "$DEBS/${p}"_*.deb >/dev/null 2>&1 ||
			prereq_missing "$DEBS/${p}_*.deb (run contrib/deps.sh)"
	done
	CDNALLOW_IN_NETNS=1 exec unshare -m -n -- sh "$0" "$@"
fi
netns_enter "$@"
. "$CDNALLOW_SRC/tests/integration/traffic_lib.sh"

# ---- the package's files, in this mount namespace only ----
PKG="$WORK/pkg"
for p in netfilter-persistent iptables-persistent; do
	dpkg-deb -x "$(ls "$DEBS/${p}"_*.deb | tail -n 1)" "$PKG" ||
		prereq_missing "dpkg-deb -x $p"
done
NFP="$PKG/usr/sbin/netfilter-persistent"
PLUGINS=/usr/share/netfilter-persistent/plugins.d
OURS="$CDNALLOW_SRC/contrib/netfilter-persistent/plugins.d"
CONF="$WORK/cdnallow.conf"
STATE="$WORK/state"
BOOT="$STATE/iptables-edge.ipset"
O=/run/cda-ovl
# any failure here must stop the test before netfilter-persistent runs: `save` would write
# /etc/iptables
if ! mount -t tmpfs -o mode=755 cda-run /run ||
	! mkdir -p $O/etc $O/etc.w $O/share $O/share.w ||
	! cp -a "$PKG/etc/." $O/etc/ || ! cp -a "$PKG/usr/share/." $O/share/ ||
	! mount -t overlay cda-etc -o "lowerdir=/etc,upperdir=$O/etc,workdir=$O/etc.w" /etc ||
	! mount -t overlay cda-share -o "lowerdir=/usr/share,upperdir=$O/share,workdir=$O/share.w" \
		/usr/share ||
	[ "$(stat -f -c %T /etc/iptables)" != overlayfs ] ||
	! [ -x "$PLUGINS/15-ip4tables" ] || ! [ -x "$PLUGINS/25-ip6tables" ]; then
	echo "not ok 1 - private /run, /etc and /usr/share overlays could not be mounted"
	exit 1
fi
mkdir -p "$WORK/real-plugins" "$WORK/stamps"
cp "$PLUGINS/15-ip4tables" "$PLUGINS/25-ip6tables" "$WORK/real-plugins/"
{
	echo "CDNALLOW_CMD=\"$CDNALLOW -c $CONF\""
	echo "CDNALLOW_IPSET_FILES=\"$STATE/iptables-*.ipset\""
} >>/etc/default/netfilter-persistent

# plugins_use without|with|stamped: the real 15-ip4tables and 25-ip6tables, plus ours (with),
# plus two that note the time right after 15-ip4tables and right after 35-cdnallow (stamped)
plugins_use() {
	rm -f "$PLUGINS"/*
	cp "$WORK/real-plugins"/* "$PLUGINS/"
	[ "$1" = without ] && return 0
	cp "$OURS/14-cdnallow-sets" "$OURS/35-cdnallow" "$PLUGINS/"
	[ "$1" = stamped ] || return 0
	for n in 16 36; do
		printf '#!/bin/sh\n[ "$1" = start ] && date +%%s%%N >>"%s/%s" || true\n' \
			"$WORK/stamps" "$n" >"$PLUGINS/$n-stamp"
		chmod 755 "$PLUGINS/$n-stamp"
	done
}

# ---- origin (the host), clients, the list server ----
CFA="$DATA/cloudflare/plug_cloudflare_2018-09-30_731abed"   # 104.16.0.0/12
CFB="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"   # 104.16.0.0/13 + 104.24.0.0/14
RELOADS=${NFP_RELOADS:-20}
traffic_topology
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CFB"
https_start_in "$ORIGIN" "$DOC"
serve "$ORIGIN" 443
wait_port "$ORIGIN" 127.0.0.1 443 || prereq_missing "python3 -m http.server in the namespaces"
cf_config "$CONF" "max_shrink = 50%" "ports = 80 443" "lock_ports = 443" "lock_forward = no"
sed -i 's/^backend = nftables$/backend = iptables\nmode = ipset/' "$CONF"

on() { nsx "$ORIGIN" "$@"; }
run() { on "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
rc() { cat "$WORK/rc"; }
expect_rc() { [ "$(rc)" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(rc) != $1"; return 1; }; }
nfp() { on sh "$NFP" "$1" >"$WORK/nfp.out" 2>&1; }

# The admin's own firewall, as `netfilter-persistent save` would have written it before
# cdnallow came: loopback, established, ssh; 80 and 443 rejected (a reset: a refusal shows
# at once); everything else dropped.
for f in 4 6; do
	{
		echo "*filter"
		echo ":INPUT DROP [0:0]"
		echo ":FORWARD DROP [0:0]"
		echo ":OUTPUT ACCEPT [0:0]"
		echo "-A INPUT -i lo -j ACCEPT"
		echo "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
		[ $f = 6 ] && echo "-A INPUT -p ipv6-icmp -j ACCEPT"
		echo "-A INPUT -p tcp -m tcp --dport 22 -m comment --comment admin-ssh -j ACCEPT"
		echo "-A INPUT -p tcp -m multiport --dports 80,443 -j REJECT --reject-with tcp-reset"
		echo "COMMIT"
	} >"$WORK/admin.v$f"
done
admin_files() { cp "$WORK/admin.v4" /etc/iptables/rules.v4; cp "$WORK/admin.v6" /etc/iptables/rules.v6; }

JUMP="-A INPUT -p tcp -m multiport --dports 80,443 -j CDNALLOW"
# what is there now, one word each: sets, jump (+ our chain's rule), lock, admin (v4 and v6)
survey() {
	s=yes j=yes l=yes a=yes
	for f in 4 6; do
		ipt=iptables
		[ $f = 6 ] && ipt=ip6tables
		on ipset list -n "cdnallow$f" >/dev/null 2>&1 &&
			[ "$(on ipset list "cdnallow$f" | sed -n '/^Members:/,$p' | sed '1d;/^$/d' | sort)" = \
				"$(cat "$WORK/good$f")" ] || s=no
		on $ipt -S >"$WORK/S"
		[ "$(grep -cxF -- "$JUMP" "$WORK/S")" = 1 ] &&
			grep -qxF -- "-A CDNALLOW -m set --match-set cdnallow$f src -j ACCEPT" "$WORK/S" || j=no
		[ "$(grep -cx -- '-A INPUT -j CDNALLOW-LOCK' "$WORK/S")" = 1 ] &&
			grep -q -- "-A CDNALLOW-LOCK -m set --match-set cdnallow$f src" "$WORK/S" || l=no
		grep -q -- 'admin-ssh' "$WORK/S" || a=no
	done
	echo "sets=$s jump=$j lock=$l admin=$a"
}
all_there() { [ "$(survey)" = "sets=yes jump=yes lock=yes admin=yes" ] || { survey; cat "$WORK/nfp.out"; return 1; }; }

# 1. the admin's firewall, then cdnallow's first sync
plugins_use without
admin_files
nfp start
check "netfilter-persistent start loads the admin's rules.v4 and rules.v6" sh -c \
	"ip netns exec '$ORIGIN' iptables -S | grep -q admin-ssh && ip netns exec '$ORIGIN' ip6tables -S | grep -q admin-ssh"
check "the admin's rules alone: the inside client does not reach 443" noreach "$CIN" 104.16.0.1 443
run sync
check "sync (backend = iptables, ports, lock_ports) exits 0" expect_rc 0
for f in 4 6; do
	on ipset list "cdnallow$f" | sed -n '/^Members:/,$p' | sed '1d;/^$/d' | sort >"$WORK/good$f"
done
check "sync: sets, jump, lock and the admin's rules in place" all_there
check "sync: the inside client reaches 443" reach "$CIN" 104.16.0.1 443
check "sync wrote boot_file (0600) holding exactly the sets" sh -c "
	[ \"\$(stat -c %a '$BOOT')\" = 600 ] &&
	[ \"\$(sed -n 's/^add cdnallow4 //p' '$BOOT' | sort)\" = \"\$(cat '$WORK/good4')\" ] &&
	[ \"\$(sed -n 's/^add cdnallow6 //p' '$BOOT' | sort)\" = \"\$(cat '$WORK/good6')\" ]"

# scenario NAME SETUP: SETUP (a shell function) then what is left without our plugins and with
# them; with them everything must be there. Sets WITHOUT, WITH.
scenario() {
	plugins_use without
	$2
	WITHOUT=$(survey)
	cp "$WORK/nfp.out" "$WORK/nfp.without"
	grep -v '^run-parts: executing' "$WORK/nfp.out" | sed "s/^/# $1, without the plugins: /"
	plugins_use with
	run restore # back to the state cdnallow wants before the second round
	$2
	WITH=$(survey)
	echo "# $1: without cdnallow's plugins: $WITHOUT; with them: $WITH"
	check "$1: with the plugins, sets (equal to the last known good lists), jump, lock and admin rules are there" all_there
}

# 2. rules.v4/v6 as the admin saved them before cdnallow: a reload drops our rules, keeps sets
reload_admin_files() { admin_files; nfp reload; }
scenario "reload (rules saved before cdnallow)" reload_admin_files
check "reload without the plugins: the sets survive, the jump and lock do not" \
	[ "$WITHOUT" = "sets=yes jump=no lock=no admin=yes" ]
# iptables-restore of the files by hand is the same as the reload; cdnallow restore puts it back
admin_files
on iptables-restore </etc/iptables/rules.v4
on ip6tables-restore </etc/iptables/rules.v6
echo "# iptables-restore < rules.v4, rules.v6 by hand: $(survey)"
run restore
check "after iptables-restore by hand: cdnallow restore exits 0" expect_rc 0
check "after iptables-restore by hand: cdnallow restore puts all back" all_there
run restore --detailed-exitcode
check "a second restore changes nothing (exit 0, not 2)" expect_rc 0
check "still one jump and one lock jump per family" all_there

# 3. `netfilter-persistent save` with cdnallow's rules live: rules.v4 then holds them
plugins_use with
nfp save
check "save: rules.v4 holds the jump, our chain and the lock" sh -c \
	"grep -qxF -- '$JUMP' /etc/iptables/rules.v4 && grep -q -- '--match-set cdnallow4' /etc/iptables/rules.v4 && grep -q -- '-A CDNALLOW-LOCK' /etc/iptables/rules.v6"
check "save: everything still there" all_there
reload_saved() { nfp reload; }
scenario "reload (rules saved with cdnallow's)" reload_saved
check "reload of saved rules: all there even without the plugins" \
	[ "$WITHOUT" = "sets=yes jump=yes lock=yes admin=yes" ]

# 4. flush: every rule goes (the admin asked for it), the sets stay; our plugins do nothing
plugins_use with
nfp flush
echo "# after netfilter-persistent flush: $(survey)"
check "flush: the sets survive" sh -c "ip netns exec '$ORIGIN' ipset list -n cdnallow4 && ip netns exec '$ORIGIN' ipset list -n cdnallow6"
check "flush: no rule is left (ours neither)" sh -c "! ip netns exec '$ORIGIN' iptables -S | grep -q -- '^-A'"

# 5. boot: no rules, no sets (flush, then ipset destroy), then start with the saved files
boot() {
	nfp flush
	on ipset destroy
	nfp start
}
scenario "boot (saved rules match the sets, sets gone)" boot
check "boot without the plugins: rules.v4 refused whole, the admin's rules are not loaded" \
	[ "$WITHOUT" = "sets=no jump=no lock=no admin=no" ]
check "boot without the plugins: iptables-restore names the missing set" \
	grep -q "Set cdnallow4 doesn't exist" "$WORK/nfp.without"
# a boot_file that cannot be read: the sets are created empty, the admin's rules still load,
# and 35-cdnallow fills the sets from the last known good lists
cp "$BOOT" "$WORK/boot.good"
echo "create cdnallow4 hash:net family inet" >"$BOOT"
echo "add cdnallow4 not-an-address" >>"$BOOT"
echo "create cdnallow6 hash:net family inet6" >>"$BOOT"
plugins_use with
boot
check "boot with a broken boot_file: everything there all the same" all_there
check "boot with a broken boot_file: 14-cdnallow-sets said so" grep -q "cannot restore ipset cdnallow4" "$WORK/nfp.out"
run restore
check "the next restore rewrites boot_file" cmp "$BOOT" "$WORK/boot.good"

# 6. live traffic: the inside client on 443 (v4 and v6) while netfilter-persistent reloads
# RELOADS times and cdnallow syncs changing lists; first with rules.v4 saved before cdnallow
# (35-cdnallow puts our rules back after each reload: a window), then saved with them.
storm() { # NAME SYNCS(yes|no)
	: >"$WORK/stamps/16"
	: >"$WORK/stamps/36"
	probe_start inside "$CIN" --timeout 2 104.16.0.1:443 '[2400:cb00::1]:443'
	probe_start outside "$COUT" --timeout 0.5 45.0.0.1:443 '[2a01:4f8::1]:443'
	rm -f "$WORK/reloads.done"
	: >"$WORK/reload.fails"
	(
		i=0
		while [ $i -lt "$RELOADS" ]; do
			ip netns exec "$ORIGIN" sh "$NFP" reload >"$WORK/r.out" 2>&1 ||
				echo "reload $i" >>"$WORK/reload.fails"
			grep -q "failed\|Error" "$WORK/r.out" && cat "$WORK/r.out" >>"$WORK/reload.fails"
			i=$((i + 1))
		done
		touch "$WORK/reloads.done"
	) &
	_rl=$!
	bg_add $_rl
	syncs=0
	bad=0
	while [ "$2" = yes ] && { [ ! -e "$WORK/reloads.done" ] || [ $syncs -lt 4 ]; }; do
		if [ $((syncs % 2)) = 0 ]; then cf_publish "$DOC" "$CFA"; else cf_publish "$DOC" "$CFB"; fi
		run sync
		[ "$(rc)" = 0 ] || { bad=$((bad + 1)); sed 's/^/# sync: /' "$WORK/err"; }
		syncs=$((syncs + 1))
	done
	wait $_rl
	IN=$(probe_stop inside)
	OUT=$(probe_stop outside)
	# the window: from right after 15-ip4tables loaded rules.v4 to right after 35-cdnallow
	WIN=$(paste "$WORK/stamps/16" "$WORK/stamps/36" |
		awk 'NF == 2 { d = ($2 - $1) / 1e6; s += d; if (d > m) m = d; n++ }
			END { if (n) printf "%d reloads, mean %.0f ms, max %.0f ms", n, s / n, m; else print "none" }')
	echo "# $1: $RELOADS netfilter-persistent reloads and $syncs cdnallow syncs of changing lists at the same time, $bad syncs failed"
	echo "# $1: inside client (443 v4+v6): $IN" | head -n 1
	echo "# $1: outside client (443 v4+v6): $OUT" | head -n 1
	echo "# $1: from rules.v4 loaded to 35-cdnallow done: $WIN"
	check "$1: every reload succeeded" [ ! -s "$WORK/reload.fails" ]
	[ "$2" = yes ] && check "$1: every sync succeeded" [ "$bad" = 0 ]
	check "$1: inside client connected throughout" [ "$(count_of ok "$IN")" -gt 20 ]
	check "$1: outside client accepted 0" [ "$(count_of ok "$OUT")" = 0 ]
	check "$1: afterwards all in place" all_there_now
}
# after the storm the lists are CFA or CFB: compare with what the sets hold now
all_there_now() {
	for f in 4 6; do
		on ipset list "cdnallow$f" | sed -n '/^Members:/,$p' | sed '1d;/^$/d' | sort >"$WORK/good$f"
	done
	run restore
	all_there
}

plugins_use stamped
admin_files
nfp reload
run restore
storm "reloads alone, rules saved before cdnallow" no
REFUSED_A=$(count_of refused "$IN")
storm "reloads and syncs, rules saved before cdnallow" yes
echo "# rules saved before cdnallow: the inside client was refused $REFUSED_A times during $RELOADS reloads alone, $(count_of refused "$IN") during $RELOADS reloads with syncs (not asserted: the window until 35-cdnallow is done)"

nfp save
storm "reloads and syncs, rules saved with cdnallow's" yes
check "reloads and syncs, rules saved with cdnallow's: inside client refused 0" sh -c \
	"[ '$(count_of refused "$IN")' = 0 ] || { echo '$IN'; exit 1; }"
check "reloads and syncs, rules saved with cdnallow's: inside client timed out 0" \
	[ "$(count_of timeout "$IN")" = 0 ]

finish
