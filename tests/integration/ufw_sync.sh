#!/bin/sh
# SPDX-License-Identifier: MIT
# The ufw backend against the real ufw (Debian's package), the real kernel and a real HTTPS
# list server, in private mount and network namespaces with a scratch /etc/ufw (ufw_lib.sh):
# the ipsets equal the list, before.rules keeps every byte of the admin's with one block of
# ours, `ufw reload`, `ufw disable && ufw enable` and a boot keep it working, a changed list is
# swapped in, and each fault exits 69 naming UFW and the cause with the firewall as it was.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
. "$CDNALLOW_SRC/tests/integration/ufw_lib.sh"
ufw_enter "$@"
ufw_scratch

CF2015="$DATA/cloudflare/plug_cloudflare_2015-05-10_a48ec64"
CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2021"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
conf() { # extra target lines
	# 100%: the 2015 <-> 2021 switches lose 64% of the IPv6 addresses (the guard is guards.sh's)
	cf_config "$CONF" "max_shrink = 100%" "$@"
	sed -i 's/^backend = nftables$/backend = ufw/' "$CONF"
}
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
rc() { cat "$WORK/rc"; }
expect_rc() { [ "$(rc)" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(rc) != $1"; return 1; }; }
canon() { { cat "$1"; echo; } | sed '/^$/d' | sort; }
rule4='-A ufw-before-input -p tcp -m multiport --dports 80,443 -m set --match-set cdnallow4 src -j ACCEPT'
rule6='-A ufw6-before-input -p tcp -m multiport --dports 80,443 -m set --match-set cdnallow6 src -j ACCEPT'
# our rule's place in the chain: exactly once, right before UFW's jump to the user rules
rule_placed() { # IPT RULE CHAINPFX
	"$1" -S "$3-before-input" >"$WORK/chain"
	[ "$(grep -cxF -- "$2" "$WORK/chain")" = 1 ] &&
		grep -A1 -xF -- "$2" "$WORK/chain" | tail -n 1 | grep -qx -- "-A $3-before-input -j $3-user-input"
}

# 0. the admin's UFW: default deny incoming, SSH allowed, a *nat section and a rule of their
# own in before.rules (bytes we must keep)
ufw default deny incoming >/dev/null
ufw allow 22/tcp >/dev/null
sed -i '1i # admin: forward 8080 to 80\n*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 8080 -j REDIRECT --to-ports 80\nCOMMIT\n' /etc/ufw/before.rules
sed -i 's/^# allow dhcp client to work$/# admin: monitoring\n-A ufw-before-input -s 192.0.2.7 -p tcp --dport 9100 -j ACCEPT\n&/' /etc/ufw/before.rules
check "ufw --force enable" sh -c 'ufw --force enable | grep -q "Firewall is active"'
for f in before.rules before6.rules before.init user.rules user6.rules; do cp "/etc/ufw/$f" "$WORK/admin.$f"; done
iptables -S ufw-user-input >"$WORK/user4.1"
ip6tables -S ufw6-user-input >"$WORK/user6.1"

# 1. first sync
conf
run sync
check "first sync exits 0" expect_rc 0
ipset_members cdnallow4 >"$WORK/v4"
ipset_members cdnallow6 >"$WORK/v6"
check "ipset cdnallow4 holds exactly the IPv4 list" diff "$WORK/v4" "$(canon "$CF2021/ips-v4" >"$WORK/e4"; echo "$WORK/e4")"
check "ipset cdnallow6 holds exactly the IPv6 list" diff "$WORK/v6" "$(canon "$CF2021/ips-v6" >"$WORK/e6"; echo "$WORK/e6")"
check "sets are hash:net" sh -c 'ipset list cdnallow4 | grep -qx "Type: hash:net" && ipset list cdnallow6 | grep -q "family inet6"'
for f in before.rules before6.rules before.init; do
	check "$f has exactly one block of ours" [ "$(ufw_blocks /etc/ufw/$f)" = 1 ]
	ufw_strip "/etc/ufw/$f" >"$WORK/stripped"
	check "$f keeps every byte of the admin's" cmp "$WORK/admin.$f" "$WORK/stripped"
done
check "before.rules: the block is inside *filter, before its COMMIT" sh -c \
	"sed -n '/^\*filter/,/^COMMIT/p' /etc/ufw/before.rules | grep -qxF -- '$rule4'"
check "before.rules keeps its mode (640)" [ "$(stat -c %a /etc/ufw/before.rules)" = 640 ]
check "before.init is executable now (ufw-init runs it only then)" [ -x /etc/ufw/before.init ]
check "IPv4 rule live, once, before UFW's user rules" rule_placed iptables "$rule4" ufw
check "IPv6 rule live, once, before UFW's user rules" rule_placed ip6tables "$rule6" ufw6
iptables -S ufw-user-input >"$WORK/user4.2"
ip6tables -S ufw6-user-input >"$WORK/user6.2"
check "UFW's user rules untouched (IPv4)" cmp "$WORK/user4.1" "$WORK/user4.2"
check "UFW's user rules untouched (IPv6)" cmp "$WORK/user6.1" "$WORK/user6.2"
check "user.rules untouched" cmp "$WORK/admin.user.rules" /etc/ufw/user.rules
check "boot file holds both sets" sh -c "grep -q '^add cdnallow4 104.16.0.0/13' '$WORK/state/ufw-edge.ipset' && grep -q '^add cdnallow6 2400:cb00::/32' '$WORK/state/ufw-edge.ipset'"
check "ufw status still says active" sh -c 'ufw status | grep -q "Status: active"'

# 2. idempotent
fw_snapshot "$WORK/snap1"
run sync --detailed-exitcode
check "second sync is a no-op (exit 0)" expect_rc 0
fw_snapshot "$WORK/snap2"
check "second sync leaves firewall and files byte-identical" cmp "$WORK/snap1" "$WORK/snap2"
run diff
check "diff changes nothing" sh -c "[ $(rc) = 0 ] && grep -q unchanged '$WORK/out'"

# 3. ufw reload, ufw disable && ufw enable: the rule comes back from before.rules
check "ufw reload" sh -c 'ufw reload | grep -q reloaded'
check "after ufw reload: IPv4 rule once, in place" rule_placed iptables "$rule4" ufw
check "after ufw reload: IPv6 rule once, in place" rule_placed ip6tables "$rule6" ufw6
run sync --detailed-exitcode
check "after ufw reload: sync is a no-op" expect_rc 0
ufw disable >/dev/null
check "ufw disable && ufw enable" sh -c 'ufw --force enable | grep -q active'
check "after disable+enable: IPv4 rule once, in place" rule_placed iptables "$rule4" ufw
check "after disable+enable: IPv6 rule once, in place" rule_placed ip6tables "$rule6" ufw6
ipset_members cdnallow4 >"$WORK/v4"
check "after disable+enable: sets still equal the list" cmp "$WORK/e4" "$WORK/v4"
run sync --detailed-exitcode
check "after disable+enable: sync is a no-op" expect_rc 0

# 4. a boot: a fresh network namespace (no sets, no rules) where ufw-init starts UFW
boot() { # -> WORK/boot.out: ufw-init's output, then the sets and the chain
	unshare -n sh -c 'ip link set lo up; /lib/ufw/ufw-init start; echo "rc=$?";
		ipset list cdnallow4 | sed -n "/^Members:/,\$p" | sed "1d;/^\$/d" | sort >"$1/boot.v4";
		iptables -S ufw-before-input >"$1/boot.chain"; iptables -S ufw-user-input >/dev/null 2>&1 && echo user-rules-loaded' \
		sh "$WORK" >"$WORK/boot.out" 2>&1
}
boot
check "boot: ufw-init start succeeds" grep -q '^rc=0$' "$WORK/boot.out"
check "boot: before.init restored cdnallow4 from the boot file" cmp "$WORK/e4" "$WORK/boot.v4"
check "boot: our rule loaded with before.rules" grep -qxF -- "$rule4" "$WORK/boot.chain"
check "boot: UFW's user rules loaded" grep -q user-rules-loaded "$WORK/boot.out"
mv "$WORK/state/ufw-edge.ipset" "$WORK/boot.saved"
boot
check "boot without the boot file: UFW still starts (empty sets)" sh -c "grep -q user-rules-loaded '$WORK/boot.out' && [ ! -s '$WORK/boot.v4' ]"
check "boot without the boot file: before.init says so" grep -q "cdnallow: cannot restore the ipsets" "$WORK/boot.out"
run sync
grep '^add ' "$WORK/boot.saved" | sort >"$WORK/boot.a"
grep '^add ' "$WORK/state/ufw-edge.ipset" | sort >"$WORK/boot.b"
check "a missing boot file is put back by the next sync" sh -c "[ $(rc) = 0 ] && cmp '$WORK/boot.a' '$WORK/boot.b'"

# 5. a changed list: swapped in, nothing else touched
cf_publish "$DOC" "$CF2015"
iptables -S >"$WORK/rules1"
cp /etc/ufw/before.rules "$WORK/br1"
run sync --json
check "changed list: sync exits 0" expect_rc 0
check "changed list: the JSON names what left" grep -q '"removed":\["104.16.0.0/13","104.24.0.0/14"' "$WORK/out"
ipset_members cdnallow4 >"$WORK/v4"
canon "$CF2015/ips-v4" >"$WORK/e4"
check "changed list: cdnallow4 now holds exactly the 2015 list" diff "$WORK/e4" "$WORK/v4"
check "changed list: no temporary set left" sh -c '! ipset list -n | grep -q -- -tmp'
iptables -S >"$WORK/rules2"
check "changed list: rules untouched (the set is swapped under them)" cmp "$WORK/rules1" "$WORK/rules2"
check "changed list: before.rules untouched" cmp "$WORK/br1" /etc/ufw/before.rules
check "changed list: the boot file follows" grep -q '^add cdnallow4 199.27.128.0/21' "$WORK/state/ufw-edge.ipset"

# 6. other ports: the block and the live rule change at once, without ufw reload
conf "ports = 443"
run sync
check "ports = 443: sync exits 0" expect_rc 0
new4='-A ufw-before-input -p tcp -m multiport --dports 443 -m set --match-set cdnallow4 src -j ACCEPT'
check "ports = 443: the live rule is the new one, in place" rule_placed iptables "$new4" ufw
check "ports = 443: the old live rule is gone" sh -c "! iptables -S | grep -qF -- '--dports 80,443 -m set'"
check "ports = 443: before.rules still has one block" [ "$(ufw_blocks /etc/ufw/before.rules)" = 1 ]
ufw_strip /etc/ufw/before.rules >"$WORK/x"
check "ports = 443: and the admin's bytes" cmp "$WORK/admin.before.rules" "$WORK/x"
conf
run sync
check "back to 80 443" sh -c "[ $(rc) = 0 ] && iptables -S | grep -qxF -- '$rule4'"

# 6b. UFW's lock: a sync that must change something waits while a ufw command holds it
python3 -c 'import fcntl, sys, time
f = open("/run/ufw.lock", "w"); fcntl.lockf(f, fcntl.LOCK_EX)
open(sys.argv[1], "w").close(); time.sleep(2)' "$WORK/locked" &
LOCKER=$!
while [ ! -e "$WORK/locked" ]; do sleep 0.05; done
cf_publish "$DOC" "$CF2021"
t0=$(date +%s.%N)
run sync
t1=$(date +%s.%N)
wait $LOCKER
check "a sync waits for UFW's lock (held 2 s by a ufw-like command)" python3 -c \
	"import sys; sys.exit(not $t1 - $t0 >= 1.5)"
check "... then applies (exit 0)" expect_rc 0

# 7. faults: exit 69 naming UFW and the cause; firewall and files exactly as before; the next
# run converges
fault() { # NAME GREP
	fw_snapshot "$WORK/before"
	run sync
	fw_snapshot "$WORK/after"
	sed -n 's/^cdnallow: /# /p' "$WORK/err" | head -n 2
	check "$1: exit 69" expect_rc 69
	check "$1: the message names UFW and the cause" sh -c "grep -q 'UFW: ' '$WORK/err' && grep -q '$2' '$WORK/err' || { cat '$WORK/err'; exit 1; }"
	check "$1: firewall and UFW's files exactly as before" cmp "$WORK/before" "$WORK/after"
}
conf "ufw_dir = $WORK/no-ufw"
fault "ufw not installed" "is ufw installed"

# the admin broke before.rules (--dport without -p tcp: iptables-restore refuses it) while our
# block must change
conf "ports = 443"
cp /etc/ufw/before.rules "$WORK/good.rules"
sed -i 's/^-A ufw-before-input -s 192.0.2.7 -p tcp --dport 9100 -j ACCEPT$/-A ufw-before-input -s 192.0.2.7 --dport 9100 -j ACCEPT/' /etc/ufw/before.rules
fault "broken before.rules" "before.rules.*does not load as it is"
check "broken before.rules: the message gives the admin's line" grep -q "before.rules:$(grep -n -- '-s 192.0.2.7 --dport' /etc/ufw/before.rules | cut -d: -f1): UFW" "$WORK/err"
cp "$WORK/good.rules" /etc/ufw/before.rules
conf
run sync
check "broken before.rules fixed: next run converges" expect_rc 0

ipset create taken4 hash:ip family inet
conf "set_v4 = taken4"
fault "set name taken by a set of another type" "ipset taken4 exists but is not hash:net"
ipset destroy taken4

conf "ipset_cmd = $WORK/no-such-dir/ipset"
fault "ipset binary missing" "cannot run $WORK/no-such-dir/ipset"

# the ip_set module cannot be loaded: ipset answers as it does then (a stand-in: the module
# of this kernel cannot be taken away inside a test)
printf '#!/bin/sh\necho "ipset v7.17: Cannot open session to kernel." >&2\nexit 1\n' >"$WORK/ipset-nomod"
chmod 755 "$WORK/ipset-nomod"
conf "ipset_cmd = $WORK/ipset-nomod"
fault "no ip_set kernel module" "Cannot open session to kernel"

conf
run sync --detailed-exitcode
check "after the faults: the next run converges with nothing to do" expect_rc 0
check "after the faults: both rules still in place" sh -c "ip6tables -S | grep -qxF -- '$rule6' && iptables -S | grep -qxF -- '$rule4'"

# 8. a block the admin left half-open is refused, not guessed at
cp /etc/ufw/before6.rules "$WORK/good6.rules"
sed -i '/^# END cdnallow$/d' /etc/ufw/before6.rules
conf "ports = 443"
fault "unclosed block" "BEGIN cdnallow.*without"
cp "$WORK/good6.rules" /etc/ufw/before6.rules
conf
run sync
check "unclosed block fixed: next run converges" expect_rc 0

# 9. the admin deletes our block: the next sync puts it back, once
ufw_strip /etc/ufw/before.rules >"$WORK/x" && cat "$WORK/x" >/etc/ufw/before.rules
run sync
check "block deleted by hand: sync puts it back" sh -c "[ $(rc) = 0 ] && [ $(ufw_blocks /etc/ufw/before.rules) = 1 ]"
ufw_strip /etc/ufw/before.rules >"$WORK/x"
check "... and the admin's bytes are still there" cmp "$WORK/admin.before.rules" "$WORK/x"
check "... and ufw reload keeps working" sh -c 'ufw reload | grep -q reloaded'
check "... with the rule once" rule_placed iptables "$rule4" ufw

finish
