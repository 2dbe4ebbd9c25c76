#!/bin/sh
# SPDX-License-Identifier: MIT
# command_timeout: every backend that runs commands (csf, fail2ban, file's check, iptables,
# ufw, exec) gives each one the target's command_timeout. A stand-in that hangs, and whose
# grandchild also ignores SIGTERM, is ended with its whole process group: the run fails
# naming the command and "timed out", exit 69, nothing is left running, and the next run is
# not blocked. The stand-ins are reached by absolute paths in a private network namespace:
# no real firewall command runs. Prints TAP.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"

BIN="$WORK/bin"
mkdir -p "$BIN"
# the stand-in, under every name a backend runs; it records its call and hangs
cat >"$BIN/hang" <<'EOF'
#!/bin/sh
d=$(dirname "$0")
echo "$(basename "$0") $*" >>"$d/calls"
trap '' TERM
sleep 3600 &
echo $! >"$d/grandchild.pid"
wait
EOF
chmod 755 "$BIN/hang"
for n in csf fail2ban-client iptables iptables-save iptables-restore ip6tables \
	ip6tables-save ip6tables-restore ipset check apply; do
	ln -s hang "$BIN/$n"
done
LIST="$WORK/list.txt"
printf '104.16.0.0/13\n173.245.48.0/20\n2400:cb00::/32\n' >"$LIST"
CONF="$WORK/cdnallow.conf"
# conf BACKEND [target lines...]: one target of that backend fed by $LIST
conf() {
	b=$1
	shift
	{
		echo "[cdnallow]"
		echo "state_dir = $WORK/state"
		echo "lock_timeout = 20s"
		echo "[source.cdn]"
		echo "provider = text"
		echo "url = file://$LIST"
		echo "[target.t]"
		echo "backend = $b"
		echo "sources = cdn"
		for l in "$@"; do echo "$l"; done
	} >"$CONF"
	chmod 600 "$CONF"
}
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }; }
has() { grep -qF -e "$1" "$2" || { echo "no '$1' in:"; cat "$2"; return 1; }; }
# the grandchild of the last stand-in call no longer runs (gone, or a zombie awaiting init)
gone() {
	gc=$(cat "$BIN/grandchild.pid" 2>/dev/null) || { echo "no grandchild pid"; return 1; }
	! grep -qs '^State:.*[RSD]' "/proc/$gc/status" || { echo "sleep $gc still runs"; return 1; }
}

# hangs NAME COMMAND-NAMED: a sync that hangs in a stand-in, ended by command_timeout = 1s
hangs() {
	rm -f "$BIN/calls" "$BIN/grandchild.pid"
	rm -rf "$WORK/state"
	run sync
	check "$1: the sync fails as a backend failure (exit 69)" expect_rc 69
	check "$1: naming the command and that it timed out" has "\`$2" "$WORK/err"
	check "$1: ... after 1 s" has "timed out after 1 s" "$WORK/err"
	check "$1: the stand-in ran" test -s "$BIN/calls"
	check "$1: its grandchild, which ignored SIGTERM, was killed with its group" gone
}

# csf: the reload after our files are written
mkdir -p "$WORK/csf"
: >"$WORK/csf/csf.allow"
: >"$WORK/csf/csf.ignore"
conf csf "csf = $BIN/csf" "csf_allow = $WORK/csf/csf.allow" "csf_ignore = $WORK/csf/csf.ignore" \
	"allow_file = $WORK/csf/cdnallow.allow" "ignore_file = $WORK/csf/cdnallow.ignore" \
	"command_timeout = 1s"
hangs csf "$BIN/csf -ra\` timed out"
check "csf: our allow file was put back (no range in it: the next run tries again)" \
	sh -c "[ -e '$WORK/csf/cdnallow.allow' ] && ! grep -q 104.16.0.0 '$WORK/csf/cdnallow.allow'"

# fail2ban: the first client call
mkdir -p "$WORK/f2b/jail.d"
conf fail2ban "client = $BIN/fail2ban-client" "conf_dir = $WORK/f2b" "jails = nginx-http-auth" \
	"command_timeout = 1"
hangs fail2ban "$BIN/fail2ban-client -c $WORK/f2b"

# file: the check command on the new file
conf file "path = $WORK/allow.txt" "check = $BIN/check {path}" "command_timeout = 1s"
hangs "file check" "$BIN/check "
check "file: the list file was not put in place" test ! -e "$WORK/allow.txt"

# iptables: reading the ipsets
conf iptables "mode = ipset" "ipset_cmd = $BIN/ipset" "iptables_cmd = $BIN/iptables" \
	"ip6tables_cmd = $BIN/ip6tables" "command_timeout = 1s"
hangs iptables "$BIN/ipset list"

# ufw: reading the ipsets, after UFW's files (the package's templates, copied)
[ -d /usr/share/ufw/iptables ] || prereq_missing "the ufw package's templates (/usr/share/ufw)"
mkdir -p "$WORK/ufw"
cp /usr/share/ufw/iptables/before.rules /usr/share/ufw/iptables/before6.rules \
	/usr/share/ufw/before.init "$WORK/ufw/"
conf ufw "ufw_dir = $WORK/ufw" "boot_file = $WORK/ufw-boot.ipset" "ufw_lock = $WORK/ufw.lock" \
	"ipset_cmd = $BIN/ipset" "iptables_cmd = $BIN/iptables" "ip6tables_cmd = $BIN/ip6tables" \
	"command_timeout = 1s"
hangs ufw "$BIN/ipset list"

# exec: command_timeout, and timeout (its older name) still works
conf exec "command = $BIN/apply" "command_timeout = 1s"
hangs "exec command_timeout" "$BIN/apply\` timed out"
conf exec "command = $BIN/apply" "timeout = 1s"
hangs "exec timeout (older name)" "$BIN/apply\` timed out"

# configuration errors: out of bounds, both names, a backend that runs no command
conf csf "csf = $BIN/csf" "command_timeout = 0"
run check
check "command_timeout = 0: a configuration error (78)" expect_rc 78
check "... naming the key and the bounds" has "command_timeout: a duration of 1s..1h" "$WORK/err"
conf file "path = $WORK/allow.txt" "command_timeout = 2h"
run check
check "command_timeout = 2h: a configuration error (78)" expect_rc 78
conf exec "command = $BIN/apply" "timeout = 5" "command_timeout = 5"
run check
check "exec with timeout and command_timeout: a configuration error (78)" expect_rc 78
check "... saying they are one setting" has "the older name of command_timeout" "$WORK/err"
conf nftables "command_timeout = 5"
run check
check "nftables runs no command: command_timeout is an unknown key there (78)" expect_rc 78
finish
