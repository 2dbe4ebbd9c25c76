#!/bin/sh
# SPDX-License-Identifier: MIT
# `cdnallow doctor` on hosts whose firewall a manager runs, each the real thing (Debian's ufw,
# firewalld with its own dbus-daemon, nft) in a private mount, network and pid namespace with
# scratch /run, /etc/ufw, /etc/default/ufw, /etc/firewalld and /etc/nftables.conf (never the
# host's): UFW's default deny that refuses 443 is an error whose fix is UFW's (`backend =
# ufw`, `ufw allow 443/tcp`), and ok once either admits the CDN; firewalld's default zone
# without https is an error with a firewall-cmd fix, ok after a `backend = firewalld` sync;
# an nftables.conf that flushes without our include is a warning naming the line; a
# 443-only origin with no port configured gets info, not an error, about port 80, while a
# target's lock_ports = 80 makes it an error again; UFW's own records (user.rules) name the
# rule that allows, rate-limits (a warning) or denies; UFW disabled: nothing about UFW.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
. "$CDNALLOW_SRC/tests/integration/ufw_lib.sh"
if [ "${CDNALLOW_IN_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || prereq_missing "root (for namespaces)"
	for p in unshare nft ufw ipset iptables-restore ip6tables-restore firewalld firewall-cmd \
		dbus-daemon python3 setpriv; do
		command -v "$p" >/dev/null || prereq_missing "$p (Debian: ufw, ipset, firewalld)"
	done
	[ -x /lib/ufw/ufw-init ] && [ -s /usr/share/ufw/before.init ] ||
		prereq_missing "the ufw package's ufw-init and templates"
	[ -f /etc/nftables.conf ] || prereq_missing "/etc/nftables.conf to mount over (Debian: nftables)"
	CDNALLOW_IN_NETNS=1 exec unshare -m -n -p -f --mount-proc -- sh "$0" "$@"
fi
netns_enter "$@"
mount --make-rprivate / || prereq_missing "a private mount namespace"
ufw_scratch # a tmpfs on /run, scratch /etc/ufw and /etc/default/ufw (default deny)

FWD_PID=""
WWW=""
mgr_cleanup() {
	[ -n "$WWW" ] && kill "$WWW" 2>/dev/null
	[ -n "$FWD_PID" ] && kill "$FWD_PID" 2>/dev/null && wait "$FWD_PID" 2>/dev/null
	cleanup
}
trap mgr_cleanup EXIT INT TERM

CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2021"
https_start "$DOC"
NFTCONF="$WORK/nft.conf"
UFWCONF="$WORK/ufw.conf"
FWDCONF="$WORK/fwd.conf"
cf_config "$NFTCONF"
cf_config "$UFWCONF"
sed -i 's/^backend = nftables$/backend = ufw/' "$UFWCONF"
cf_config "$FWDCONF"
sed -i 's/^backend = nftables$/backend = firewalld/' "$FWDCONF"

# doctor CONF [args]: its output in WORK/out, exit status in WORK/rc
doctor() {
	_c=$1
	shift
	"$CDNALLOW" -c "$_c" doctor "$@" >"$WORK/out" 2>"$WORK/err"
	echo $? >"$WORK/rc"
}
rc_is() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err" "$WORK/sync.out" 2>/dev/null; return 1; }; }
has() { grep -qF -- "$1" "$WORK/out" || { cat "$WORK/out"; return 1; }; }
hasnt() { ! grep -qF -- "$1" "$WORK/out" || { grep -F -- "$1" "$WORK/out"; return 1; }; }
# rhas/rhasnt RE: a line of the output matches (does not match) the basic regex RE
rhas() { grep -q -e "$1" "$WORK/out" || { echo "no '$1' in:"; sed "s/^/# /" "$WORK/out" "$WORK/err"; return 1; }; }
rhasnt() { ! grep -q -e "$1" "$WORK/out" || { echo "'$1' in:"; sed "s/^/# /" "$WORK/out"; return 1; }; }
# fix_of PREFIX: the fix line under the first finding line starting with PREFIX
fix_of() { awk -v p="$1" 'f { print; exit } index($0, p) == 1 { f = 1 }' "$WORK/out"; }
fix_has() { fix_of "$1" | grep -qF -- "$2" || { cat "$WORK/out"; return 1; }; }
# doctor_nocap CONF: doctor -v --port 443 as root without CAP_NET_ADMIN (the ruleset unreadable)
doctor_nocap() {
	setpriv --bounding-set=-net_admin "$CDNALLOW" -c "$1" -v doctor --port 443 \
		>"$WORK/out" 2>"$WORK/err"
	echo $? >"$WORK/rc"
}

# The origin: a web server on 443 only (IPv4), nothing on 80, no port in any config.
mkdir -p "$WORK/www"
echo hello >"$WORK/www/index.html"
python3 -m http.server 443 --bind 0.0.0.0 --directory "$WORK/www" >/dev/null 2>&1 </dev/null &
WWW=$!
i=0
until python3 "$CDNALLOW_SRC/tests/integration/probe.py" once 127.0.0.1 443 1 >/dev/null 2>&1 ||
	[ $i -ge 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
listening() { grep -q '^ *[0-9]*: 00000000:01BB 00000000:0000 0A' /proc/net/tcp; }
check "a listener on 0.0.0.0:443" listening
"$CDNALLOW" -c "$NFTCONF" sync >/dev/null 2>&1 || prereq_missing "a first sync (lists over HTTPS)"
# the lists are known to a file target too (a sync that touches no firewall)
FILECONF="$WORK/file.conf"
cf_config "$FILECONF"
sed -i "s#^backend = nftables\$#backend = file\npath = $WORK/allow.txt#" "$FILECONF"
"$CDNALLOW" -c "$FILECONF" sync >"$WORK/sync.out" 2>&1
echo $? >"$WORK/rc"
check "the lists are fetched (sync into a file target)" rc_is 0
# The host's nftables.conf stays out of the phases that are not about it.
printf 'flush ruleset\n' >"$WORK/nftables.conf"
mount --bind "$WORK/nftables.conf" /etc/nftables.conf || prereq_missing "a bind mount over /etc/nftables.conf"
[ "$(stat -c %d:%i /etc/nftables.conf)" = "$(stat -c %d:%i "$WORK/nftables.conf")" ] ||
	{ echo "not ok 1 - /etc/nftables.conf is not the scratch copy"; exit 1; }
printf '#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n' \
	>"$WORK/nftables.conf"

# 1. nftables.conf: a flush without our include is a warning naming the line; with it, fine
doctor "$NFTCONF"
check "nftables.conf: flush ruleset without the include is a warning" \
	has "WARNING nftables.conf [edge]: /etc/nftables.conf line 3 flushes the whole ruleset"
check "... whose fix names the include line to add last" \
	fix_has "WARNING nftables.conf" "add \`include \"$WORK/state/*.nft\"\` as the last line"
check "... and says how long the fallback leaves the sets out" has "about 50 ms after the reload"
echo "include \"$WORK/state/*.nft\"" >>"$WORK/nftables.conf"
check "the scratch nftables.conf with the include loads (nft -c)" nft -c -f /etc/nftables.conf
doctor "$NFTCONF" -v
check "nftables.conf: with the include, no warning" hasnt "WARNING nftables.conf"
check "... and an ok that names the line" has "ok      nftables.conf [edge]: /etc/nftables.conf flushes the ruleset (line 3) and includes $WORK/state/edge.nft after it (line 10)"
# a shorter file: the flush on line 2; the include last (line 5), then before the flush
printf '#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n}\n' >"$WORK/nftables.conf"
doctor "$NFTCONF" -v
check "nftables.conf flushes, no include: a warning with the line" \
	rhas "^WARNING nftables.conf \\[edge\\]: /etc/nftables.conf line 2 flushes the whole ruleset and does not include $WORK/state/edge.nft"
check "... the fix is the include line for the state dir" rhas "fix: add \`include \"$WORK/state/\\*.nft\"\` as the last line"
echo "include \"$WORK/state/*.nft\"" >>"$WORK/nftables.conf"
doctor "$NFTCONF" -v
check "with the include last: ok, no warning" \
	rhas "^ok *nftables.conf \\[edge\\]: /etc/nftables.conf flushes the ruleset (line 2) and includes $WORK/state/edge.nft after it (line 5)"
printf 'include "%s/state/*.nft"\nflush ruleset\n' "$WORK" >"$WORK/nftables.conf"
doctor "$NFTCONF" -v
check "with the include before the flush: a warning" \
	rhas "^WARNING *nftables.conf \\[edge\\]: /etc/nftables.conf includes $WORK/state/edge.nft on line 1, before its \`flush ruleset\` on line 2"
printf '#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\ninclude "%s/state/*.nft"\n' "$WORK" >"$WORK/nftables.conf"

# 2. ports: 443 serves, nothing on 80, no port named: port 80 is info
check "ports: no error about port 80 on a 443-only origin" hasnt "ERROR   listen [port 80]"
check "... but info saying so" has "info    listen [port 80]: nothing listens on port 80 and no rule mentions it"
check "... and port 443 is checked" has "listen [port 443]: listening on IPv4"
doctor "$FILECONF" -v
check "443-only origin, default ports: no listen error" rhasnt "^ERROR *listen"
check "... port 80 unused is info, naming port 443" \
	rhas "^info *listen \\[port 80\\]: nothing listens on port 80 and no rule mentions it, while port 443 serves"
# a target that names port 80 (an nftables lock on 80; never synced) makes it an error again
sed "s#^backend = file\$#backend = nftables#; s#^path = .*#lock_ports = 80#" "$FILECONF" >"$WORK/lock80.conf"
chmod 600 "$WORK/lock80.conf"
check "... (the lock_ports = 80 config loads)" "$CDNALLOW" -c "$WORK/lock80.conf" check
doctor "$WORK/lock80.conf" -v
check "lock_ports = 80: nothing listening there is an ERROR" \
	rhas "^ERROR *listen \\[port 80\\]: nothing listens on port 80"
check "... and port 443, named nowhere, is not checked" rhasnt "listen \\[port 443\\]"

# 3. UFW, default deny: 443 refused for the CDN is an error in UFW's words
ufw default deny incoming >/dev/null
ufw allow 22/tcp >/dev/null
check "ufw --force enable" sh -c 'ufw --force enable | grep -q "Firewall is active"'
doctor "$NFTCONF" -v --port 443
check "default deny: doctor exits 1 (an error)" rc_is 1
check "... an ERROR names UFW's default policy for IPv4" \
	rhas "^ERROR *ufw \\[port 443 IPv4\\]: UFW refuses CDN connections to port 443: UFW's default policy drops it (deny incoming: DEFAULT_INPUT_POLICY=\"DROP\")"
check "... and for IPv6" rhas "^ERROR *ufw \\[port 443 IPv6\\]: UFW refuses CDN connections"
check "... the fix is in UFW's words (backend = ufw)" rhas "backend = ufw"
check "... never an nft rule for UFW's tables" hasnt "tcp dport { 80, 443 } ip saddr @SET accept"
check "... one finding for UFW's policy: the rules check leaves UFW's chains to it" \
	rhasnt "^[A-Z]* *rules \\[port 443 IPv[46]\\]:.*(UFW's)"
doctor_nocap "$NFTCONF"
check "ruleset unreadable: UFW's files give the verdict, an ERROR" \
	rhas "^ERROR *ufw \\[port 443 IPv4\\]: UFW refuses the CDN: default DROP incoming, and no UFW rule allows the port"
check "... (the ruleset was not read)" rhas "^info *privileges: the nftables ruleset cannot be read"
doctor "$NFTCONF"
check "UFW default deny: doctor exits 1" rc_is 1
check "... an error naming UFW and its policy" \
	has "ERROR   ufw [port 443 IPv4]: UFW refuses CDN connections to port 443: UFW's default policy drops it"
check "... for IPv6 too" has "ERROR   ufw [port 443 IPv6]: UFW refuses CDN connections to port 443"
check "... whose fix is backend = ufw" fix_has "ERROR   ufw [port 443 IPv4]" \
	"set \`backend = ufw\` in cdnallow.conf (see cdnallow.conf(5))"
check "... or ufw allow 443/tcp" fix_has "ERROR   ufw [port 443 IPv4]" "\`ufw allow 443/tcp\` (opens it to everyone)"
check "no fix tells a UFW user to add an nft rule" hasnt "in this chain add"
check "... nor to accept the sets in UFW's table" hasnt "fix: accept the CDN sets before"
ufw default reject incoming >/dev/null
doctor "$NFTCONF"
check "UFW default reject: still an error about UFW's default policy" \
	has "ERROR   ufw [port 443 IPv4]: UFW refuses CDN connections to port 443: UFW's default policy drops it (reject incoming: DEFAULT_INPUT_POLICY=\"REJECT\")"
ufw default deny incoming >/dev/null
ufw deny 443/tcp >/dev/null
doctor "$NFTCONF"
check "ufw deny 443/tcp: an error naming the user rule" \
	has "ERROR   ufw [port 443 IPv4]: UFW refuses CDN connections to port 443: a UFW rule drops it (table ip filter chain ufw-user-input"
check "... whose fix is ufw's" fix_has "ERROR   ufw [port 443 IPv4]" "\`ufw status numbered\`, \`ufw delete N\`"
ufw delete deny 443/tcp >/dev/null
"$CDNALLOW" -c "$NFTCONF" --json doctor >"$WORK/json" 2>/dev/null
check "JSON: ok false, the ufw finding is an error" python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['ok'] is False, d
f = [x for x in d['findings'] if x['check'] == 'ufw' and x['subject'] == 'port 443 IPv4']
assert f and f[0]['severity'] == 'error' and 'backend = ufw' in f[0]['fix'], f
" "$WORK/json"

# 4. ufw allow 443/tcp: no error
ufw allow 443/tcp >/dev/null
doctor "$NFTCONF" -v
check "ufw allow 443/tcp: doctor exits 0" rc_is 0
check "... no error at all" hasnt "ERROR "
check "... UFW admits the CDN through the user rule" \
	has "ok      ufw [port 443 IPv4]: UFW admits the CDN: table ip filter chain ufw-user-input"
check "ufw allow 443/tcp: no UFW error" rhasnt "^ERROR *ufw"
check "... UFW allows it, with the rule" rhas "UFW allows it to everyone (rule \`allow tcp 443 0.0.0.0/0"
doctor_nocap "$NFTCONF"
check "ruleset unreadable: UFW's files name the allow rule (ok)" \
	rhas "^ok *ufw \\[port 443 IPv4\\]: UFW allows it to everyone (rule \`allow tcp 443 0.0.0.0/0"
ufw delete allow 443/tcp >/dev/null
# ufw limit 443/tcp: a warning (a CDN edge opens many connections)
ufw limit 443/tcp >/dev/null
doctor "$NFTCONF" -v --port 443
check "ufw limit 443/tcp: a warning, not OK" rhas "^WARNING *ufw \\[port 443 IPv4\\]: UFW allows it to everyone (rule \`limit"
check "... and no UFW error" rhasnt "^ERROR *ufw"
ufw delete limit 443/tcp >/dev/null
# a deny for a CDN range before anything else
ufw insert 1 deny from 104.16.0.0/13 to any port 443 proto tcp >/dev/null
doctor "$NFTCONF" -v --port 443
check "a UFW deny of a CDN range: ERROR naming the rule" \
	rhas "^ERROR *ufw \\[port 443 IPv4\\]: UFW refuses CDN connections to port 443: a UFW rule drops it (.*; UFW rule \`deny tcp 443 0.0.0.0/0 any 104.16.0.0/13 in\`)"
ufw --force delete 1 >/dev/null
# allowed from one CDN prefix only: the rest is still refused
ufw allow from 173.245.48.0/20 to any port 443 proto tcp >/dev/null
doctor "$NFTCONF"
check "ufw allow from one CDN prefix: still an error" rc_is 1
check "... that says only part is accepted, and names what is refused" \
	has "only part of the CDN is accepted before it; CDN ranges refused: 103.21.244.0/22"
check "... and leaves out the prefix that is allowed" sh -c "! grep '^ERROR   ufw \[port 443 IPv4\]' '$WORK/out' | grep -q 173.245.48.0/20"
ufw delete allow from 173.245.48.0/20 to any port 443 proto tcp >/dev/null

# 5. backend = ufw, synced: ok
"$CDNALLOW" -c "$UFWCONF" sync >"$WORK/sync.out" 2>&1
echo $? >"$WORK/rc"
check "backend = ufw: sync exits 0" rc_is 0
check "a backend = ufw target syncs" rc_is 0
doctor "$UFWCONF" -v --port 443
check "backend = ufw: OK, through the target" \
	rhas "^ok *ufw \\[port 443 IPv4\\]: UFW admits the CDN through cdnallow's ipset cdnallow4 (.*target edge"
check "... no UFW error" rhasnt "^ERROR *ufw"
doctor "$UFWCONF" -v
check "backend = ufw synced: doctor exits 0" rc_is 0
check "... no error at all" hasnt "ERROR "
check "... UFW admits the CDN through cdnallow's ipsets" \
	has "ok      ufw [port 443 IPv4]: UFW admits the CDN through cdnallow's ipset cdnallow4 (15 entries, target edge, rule in ufw-before-input)"
check "... IPv6 too" has "ok      ufw [port 443 IPv6]: UFW admits the CDN through cdnallow's ipset cdnallow6 (7 entries"
check "... port 80 (the target's default, nothing listens) stays info" has "info    listen [port 80]"
ipset flush cdnallow4
doctor "$UFWCONF"
check "backend = ufw with its ipset emptied: error" rc_is 1
check "... whose fix is to sync that target" fix_has "ERROR   ufw [port 443 IPv4]" \
	"run \`cdnallow sync --target edge\` (cdnallow's ufw target: ipset cdnallow4 is empty)"

# UFW disabled: nothing about UFW
"$CDNALLOW" -c "$UFWCONF" sync >/dev/null 2>&1
ufw disable >/dev/null
doctor "$UFWCONF" -v --port 443
check "ufw disabled: no UFW finding" hasnt " ufw "

# UFW off, its chains and sets gone: firewalld's turn in the same namespace
nft flush ruleset
ipset destroy 2>/dev/null

# 6. firewalld, its own system bus: the default zone without https refuses the CDN
mkdir -p /run/dbus "$WORK/etc-firewalld"
cp -a /etc/firewalld/. "$WORK/etc-firewalld/"
mount --bind "$WORK/etc-firewalld" /etc/firewalld
dbus-daemon --system --fork --nopidfile || prereq_missing "dbus-daemon --system"
firewalld --nofork --nopid --log-target file --log-file "$WORK/firewalld.log" \
	>/dev/null 2>&1 </dev/null &
FWD_PID=$!
i=0
until [ "$(firewall-cmd --state 2>/dev/null)" = running ] || [ $i -ge 150 ]; do
	sleep 0.1
	i=$((i + 1))
done
[ "$(firewall-cmd --state 2>/dev/null)" = running ] || prereq_missing "firewalld did not start"
"$CDNALLOW" -c "$NFTCONF" sync >/dev/null 2>&1
doctor "$NFTCONF"
check "firewalld without https: doctor exits 1" rc_is 1
check "... an error naming the zone and the port" \
	has "ERROR   firewalld [zone public port 443 IPv4]: firewalld's default zone public does not open port 443 to the CDN"
check "... whose fix is firewall-cmd" fix_has "ERROR   firewalld [zone public port 443 IPv4]" \
	"\`firewall-cmd --permanent --zone=public --add-service=https && firewall-cmd --reload\`"
check "... or backend = firewalld" fix_has "ERROR   firewalld [zone public port 443 IPv4]" \
	"set \`backend = firewalld\` in cdnallow.conf"
check "no fix tells a firewalld user to add an nft rule" hasnt "in this chain add"
check "... one finding for the zone: the rules check leaves firewalld's zone chains to it" \
	rhasnt "^[A-Z]* *rules \\[port 443 IPv[46]\\]:.*(firewalld's)"
check "... nor to edit firewalld's table" hasnt "fix: remove the CDN addresses from that rule"
firewall-cmd -q --zone=public --add-service=https
doctor "$NFTCONF" -v
check "firewall-cmd --add-service=https: the zone admits the CDN" \
	has "ok      firewalld [zone public port 443 IPv4]: firewalld's default zone public admits the CDN on port 443: service https"
check "... and no firewalld error" hasnt "ERROR   firewalld"
firewall-cmd -q --zone=public --remove-service=https

# 7. backend = firewalld, synced: ok
"$CDNALLOW" -c "$FWDCONF" sync >"$WORK/sync.out" 2>&1
echo $? >"$WORK/rc"
check "backend = firewalld: sync exits 0" rc_is 0
doctor "$FWDCONF" -v
check "backend = firewalld synced: doctor exits 0" rc_is 0
check "... no error at all" hasnt "ERROR "
check "... the zone admits the CDN through cdnallow's ipset" \
	has "ok      firewalld [zone public port 443 IPv4]: firewalld's default zone public admits the CDN on port 443: rich rule 'rule family=\"ipv4\" source ipset=\"cdnallow4\" port port=\"443\" protocol=\"tcp\" accept' (cdnallow's ipset)"
check "... and says the ipset is used" has "ok      firewalld [cdnallow4]: ipset cdnallow4 holds 15 entries and zone public uses it"
check "... port 80 (the target's default, nothing listens) stays info" has "info    listen [port 80]"
firewall-cmd -q --zone=public --remove-rich-rule='rule family="ipv4" source ipset="cdnallow4" port port="443" protocol="tcp" accept'
doctor "$FWDCONF"
check "our rich rule removed by hand: error" rc_is 1
check "... whose fix is to sync the target" fix_has "ERROR   firewalld [zone public port 443 IPv4]" \
	"run \`cdnallow sync --target edge\`"

finish
