#!/bin/sh
# SPDX-License-Identifier: MIT
# Privilege separation, on the real binary in a private network namespace: the process that
# talks to the HTTPS server and parses what it sends is not root, has no capability, is in a
# seccomp filter, and is not the process that changes the firewall (strace -f); a fetch child
# that dies or cannot enter its sandbox fails its sources loudly (75), the last known good
# list stands in and the firewall is left as it was; local files only root can read (a
# file:// mirror, a ca_file) still work.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
command -v strace >/dev/null || prereq_missing "strace"
# LeakSanitizer cannot run under ptrace: the sanitizer build checks leaks everywhere but here
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
command -v setpriv >/dev/null || prereq_missing "setpriv (util-linux)"

CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2021"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
cf_config "$CONF"
run() { "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }; }
has() { grep -q -e "$1" "$2" || { echo "no '$1' in:"; cat "$2"; return 1; }; }
TRACE="$WORK/trace"

# 1. who fetches: strace every process and thread of a first sync
run strace -f -qq -o "$TRACE" -e trace=setgroups,setresgid,setresuid,seccomp,socket,connect \
	sh -c 'echo $$ >"$1"; exec "$2" -c "$3" sync' sh "$WORK/pid" "$CDNALLOW" "$CONF"
check "a first sync under strace -f: exit 0" expect_rc 0
check "... the list reached the kernel" sh -c "nft list set inet cdnallow allow_v4 | grep -q 173.245.48.0/20"
# the pids that connected to the test server, and the pid of cdnallow itself
CONNECTS=$(grep -E "connect\(.*htons\($PORT\)" "$TRACE" | awk '{print $1}' | sort -u)
PARENT=$(cat "$WORK/pid")
check "... some process connected to the server" test -n "$CONNECTS"
check "... but not cdnallow's own process" sh -c "! echo '$CONNECTS' | grep -qx '$PARENT'"
check "... and cdnallow's own process opened no inet socket" \
	sh -c "! grep -E '^$PARENT +socket\(AF_INET6?,' '$TRACE'"
for pid in $CONNECTS; do
	# in the order strace saw them: groups dropped, a non-zero uid, a filter, then sockets
	check "... pid $pid dropped its groups, became a non-root uid and loaded a filter first" \
		awk -v p="$pid" '
			$1 != p { next }
			/setgroups\(0, NULL\) += 0/ { g = 1 }
			/setresuid\([1-9][0-9]*, [1-9][0-9]*, [1-9][0-9]*\) += 0/ { u = g }
			/seccomp\(SECCOMP_SET_MODE_FILTER, [^N]*filter=.*= 0/ { f = u }
			/socket\(AF_INET/ && !f { bad = 1 }
			END { exit !(f && !bad) }' "$TRACE"
	check "... pid $pid did not open a netlink socket" \
		sh -c "! grep -E '^$pid +socket\(AF_NETLINK' '$TRACE'"
done
check "... it runs as nobody (or the cdnallow user)" \
	sh -c "grep -E 'setresuid\(($(id -u nobody)|$(id -u cdnallow 2>/dev/null || echo x)),' '$TRACE'"
nft list ruleset >"$WORK/good"

# 2. a fetch child that dies (killed as it connects): fallback, loud, firewall untouched
run strace -f -qq -o /dev/null -e trace=connect -e inject=connect:signal=SIGKILL \
	"$CDNALLOW" -c "$CONF" --json sync
check "a fetch child killed as it connects: exit 75" expect_rc 75
check "... says so" has "the fetch process was killed by signal 9" "$WORK/err"
check "... the last known good list stands in" has "using its last known good list" "$WORK/err"
check "... JSON status fallback" sh -c "grep -q '\"status\":\"fallback\"' '$WORK/out'"
check "... the ruleset is as it was" sh -c "nft list ruleset | diff '$WORK/good' -"
check "... and cdnallow itself went on to the end (report printed)" \
	sh -c "grep -q '\"targets\":\[{\"name\":\"edge\"' '$WORK/out'"

# 3. the same with no last known good list: the target is left alone
mv "$WORK/state" "$WORK/state.kept"
run strace -f -qq -o /dev/null -e trace=connect -e inject=connect:signal=SIGKILL \
	"$CDNALLOW" -c "$CONF" sync
check "killed, no last known good list: exit 75" expect_rc 75
check "... the target is skipped" has "no usable list" "$WORK/err"
check "... the ruleset is as it was" sh -c "nft list ruleset | diff '$WORK/good' -"
rm -rf "$WORK/state"
mv "$WORK/state.kept" "$WORK/state"

# 4. no CAP_SETUID (a unit without it): the child cannot enter its sandbox and reads nothing
: >"$REQLOG"
run setpriv --bounding-set=-all,+net_admin --inh-caps=-all "$CDNALLOW" -c "$CONF" sync
check "no CAP_SETUID/CAP_SETGID for the child: exit 75" expect_rc 75
check "... says it could not enter its sandbox" has "could not enter its sandbox" "$WORK/err"
check "... no request reached the server" sh -c "! test -s '$REQLOG'"
check "... the ruleset is as it was" sh -c "nft list ruleset | diff '$WORK/good' -"

# 5. local inputs only root may read: a file:// mirror and the ca_file, in a 0700 directory
mkdir -m 0700 "$WORK/private"
cp "$DATA/cloudflare/plug_cloudflare_2015-05-10_a48ec64/ips-v4" "$WORK/private/ips-v4"
cp "$CA" "$WORK/private/ca.pem"
chmod 0600 "$WORK/private/ips-v4" "$WORK/private/ca.pem"
sed -i -e "s#^url = .*#url = file://$WORK/private/ips-v4 $BASE/ips-v6#" \
	-e "s#^ca_file = .*#ca_file = $WORK/private/ca.pem#" "$CONF"
run "$CDNALLOW" -c "$CONF" --force sync
check "a root-only file:// list and ca_file: exit 0" expect_rc 0
check "... the file's list is applied" \
	sh -c "nft list set inet cdnallow allow_v4 | grep -q 199.27.128.0/21"

finish
