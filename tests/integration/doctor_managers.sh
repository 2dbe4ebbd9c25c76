#!/bin/sh
# SPDX-License-Identifier: MIT
# doctor on a host whose firewall UFW manages (the real ufw, a scratch /etc/ufw in private
# mount and network namespaces, ufw_lib.sh): default deny incoming refuses the CDN on 443 and
# that is an ERROR whose fix is in UFW's words; `ufw allow 443/tcp` and a `backend = ufw`
# target let it in (OK); `ufw limit` is a warning; no advice to add nft rules to UFW's tables.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
. "$CDNALLOW_SRC/tests/integration/ufw_lib.sh"
ufw_enter "$@"
ufw_scratch

CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2021"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }; }
has() { grep -q -e "$1" "$WORK/out" || { echo "no '$1' in:"; sed "s/^/# /" "$WORK/out" "$WORK/err"; return 1; }; }
hasnt() { ! grep -q -e "$1" "$WORK/out" || { echo "'$1' in:"; sed "s/^/# /" "$WORK/out"; return 1; }; }
# a listener on 443 so that the port checks see a served port
python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 443)); s.listen(); time.sleep(600)' >/dev/null 2>&1 &
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; cleanup' EXIT INT TERM
listening() { grep -q '^ *[0-9]*: 00000000:01BB 00000000:0000 0A' /proc/net/tcp; }
for i in $(seq 1 100); do listening && break; sleep 0.1; done
check "a listener on 0.0.0.0:443" listening

# the lists are known (a sync into a file target; UFW is not touched by it)
cf_config "$CONF"
sed -i "s#^backend = nftables\$#backend = file\npath = $WORK/allow.txt#" "$CONF"
run sync
check "the lists are fetched (sync into a file target)" expect_rc 0

# 0. a 443-only origin and no port named anywhere: port 80 unused is not an error
run -v doctor
check "443-only origin, default ports: no listen error" hasnt "^ERROR *listen"
check "... port 80 unused is info, naming port 443" \
	has "^info *listen \\[port 80\\]: nothing listens on port 80, but port 443 does"
# a target that names port 80 (an nftables lock on 80; never synced) makes it an error again
sed "s#^backend = file\$#backend = nftables#; s#^path = .*#lock_ports = 80#" "$CONF" >"$WORK/lock80.conf"
chmod 600 "$WORK/lock80.conf"
check "... (the lock_ports = 80 config loads)" "$CDNALLOW" -c "$WORK/lock80.conf" check
"$CDNALLOW" -c "$WORK/lock80.conf" -v doctor >"$WORK/out" 2>"$WORK/err"
check "lock_ports = 80: nothing listening there is an ERROR" \
	has "^ERROR *listen \\[port 80\\]: nothing listens on port 80"
check "... and port 443, named nowhere, is not checked" hasnt "listen \\[port 443\\]"

# 0b. /etc/nftables.conf (a scratch copy bind-mounted in this private mount namespace only)
# that flushes the ruleset: with no include of the target's nft_file, a warning naming the
# line to add; with it last, ok; with it before the flush, a warning
printf '#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n}\n' >"$WORK/nftables.conf"
if ! mount --bind "$WORK/nftables.conf" /etc/nftables.conf ||
	[ "$(stat -c %d:%i /etc/nftables.conf)" != "$(stat -c %d:%i "$WORK/nftables.conf")" ]; then
	echo "not ok - a scratch /etc/nftables.conf could not be mounted"
	exit 1
fi
doc80() { "$CDNALLOW" -c "$WORK/lock80.conf" -v doctor >"$WORK/out" 2>"$WORK/err"; }
doc80
check "nftables.conf flushes, no include: a warning with the line" \
	has "^WARNING *nftables.conf \\[edge\\]: /etc/nftables.conf:2 flushes the ruleset and does not include cdnallow's file"
check "... the fix is the include line for the state dir" has "fix: make \`include \"$WORK/state/\\*.nft\"\` the last line"
echo "include \"$WORK/state/*.nft\"" >>"$WORK/nftables.conf"
doc80
check "with the include last: ok, no warning" \
	has "^ok *nftables.conf \\[edge\\]: /etc/nftables.conf:5 includes $WORK/state/edge.nft after"
printf 'include "%s/state/*.nft"\nflush ruleset\n' "$WORK" >"$WORK/nftables.conf"
doc80
check "with the include before the flush: a warning" \
	has "^WARNING *nftables.conf \\[edge\\]: /etc/nftables.conf:2 flushes the ruleset, after the line that includes"
umount /etc/nftables.conf

# 1. UFW enabled, default deny incoming, only SSH allowed
ufw default deny incoming >/dev/null
ufw allow 22/tcp >/dev/null
check "ufw --force enable" sh -c 'ufw --force enable | grep -q "Firewall is active"'
run -v doctor --port 443
check "default deny: doctor exits 1 (an error)" expect_rc 1
check "... an ERROR names UFW's default policy for IPv4" \
	has "^ERROR *ufw \[port 443 IPv4\]: UFW refuses the CDN: default DROP incoming"
check "... and for IPv6" has "^ERROR *ufw \[port 443 IPv6\]: UFW refuses the CDN"
check "... the fix is in UFW's words (backend = ufw)" has "backend = ufw"
check "... never an nft rule for UFW's tables" hasnt "tcp dport { 80, 443 } ip saddr @SET accept"

# 2. ufw allow 443/tcp: everyone may connect, the CDN too
ufw allow 443/tcp >/dev/null
run -v doctor --port 443
check "ufw allow 443/tcp: no UFW error" hasnt "^ERROR *ufw"
check "... UFW allows it, with the rule" has "UFW allows it to everyone (rule \`allow tcp 443 0.0.0.0/0"
ufw delete allow 443/tcp >/dev/null

# 3. ufw limit 443/tcp: a warning (a CDN edge opens many connections)
ufw limit 443/tcp >/dev/null
run -v doctor --port 443
check "ufw limit 443/tcp: a warning, not OK" has "^WARNING *ufw \[port 443 IPv4\]: UFW allows it to everyone (rule \`limit"
ufw delete limit 443/tcp >/dev/null

# 4. a deny for a CDN range before anything else
ufw insert 1 deny from 104.16.0.0/13 to any port 443 proto tcp >/dev/null
run -v doctor --port 443
check "a UFW deny of a CDN range: ERROR naming the rule" \
	has "^ERROR *ufw \[port 443 IPv4\]: UFW refuses the CDN: rule deny tcp 443 0.0.0.0/0 any 104.16.0.0/13 in"
ufw --force delete 1 >/dev/null

# 5. backend = ufw: the CDN lists are accepted inside UFW
cf_config "$CONF"
sed -i 's/^backend = nftables$/backend = ufw/' "$CONF"
run sync
check "a backend = ufw target syncs" expect_rc 0
run -v doctor --port 443
check "backend = ufw: OK, through the target" has "^ok *ufw \[port 443 IPv4\]: UFW lets the CDN in: target"
check "... no UFW error" hasnt "^ERROR *ufw"

# 6. UFW disabled: nothing about UFW
ufw disable >/dev/null
run -v doctor --port 443
check "ufw disabled: no UFW finding" hasnt " ufw "
finish
