#!/bin/sh
# SPDX-License-Identifier: MIT
# The Ansible role of contrib/ansible run for real by Debian's ansible-playbook (ansible-core,
# connection local) with contrib/ansible/playbook.yml, in private mount and network
# namespaces: /etc, /usr and /var are overlays whose writes land in a tmpfs of this test, /run
# is an empty tmpfs (no host service manager is reachable), nftables is the namespace's own.
# The role installs the built binary and the units, writes the configuration from its
# template, syncs from the test HTTPS server: the first play reports changed, the second ok
# (changed=0); check mode shows a pending change without applying it; a guard refusal (exit
# 3) and a source that fails with no last known good list fail the play with cdnallow's cause
# in ansible's output and the sets as they were; cdnallow_force applies the refused change; a
# configuration `cdnallow check` rejects is never installed. The host's files are compared
# (through /proc/1/root) before and after. The timer task is not run here (no systemd as
# PID 1; the units under systemd are systemd_boot's).
. "$CDNALLOW_SRC/tests/integration/lib.sh"
if [ "${CDNALLOW_IN_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || prereq_missing "root (for namespaces)"
	command -v unshare >/dev/null || prereq_missing "unshare"
	command -v ansible-playbook >/dev/null ||
		prereq_missing "ansible-playbook (Debian package ansible-core)"
	CDNALLOW_IN_NETNS=1 exec unshare -m -n -- sh "$0" "$@"
fi
netns_enter "$@"
mount --make-rprivate / || prereq_missing "a private mount namespace"
# the scratch layers go before the work dir (they are this namespace's only)
ansible_cleanup() {
	for d in /run /var /usr /etc "$OVL"; do umount "$d" 2>/dev/null; done
	cleanup
}
OVL="$WORK/ovl"
trap ansible_cleanup EXIT INT TERM
[ "${KEEP_WORK:-}" = 1 ] && trap - EXIT

# What the role writes, as the host sees it (PID 1's root is outside this mount namespace).
HOSTPATHS="/etc/cdnallow /var/lib/cdnallow /usr/sbin/cdnallow /etc/systemd/system/cdnallow.service
/etc/systemd/system/cdnallow.timer /etc/systemd/system/cdnallow-restore.service"
host_sum() {
	for p in $HOSTPATHS; do
		if [ -e "/proc/1/root$p" ]; then
			find "/proc/1/root$p" -type f -exec sha256sum {} + | sort
		else
			echo "absent $p"
		fi
	done
}
host_sum >"$WORK/host.before"

# Scratch layers over the paths the role and cdnallow write (upper dirs in one tmpfs).
mkdir -p "$OVL"
mount -t tmpfs -o mode=0755 none "$OVL" || prereq_missing "tmpfs"
for d in etc usr var; do
	mkdir -p "$OVL/$d" "$OVL/$d.work"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$OVL/$d,workdir=$OVL/$d.work" "/$d" ||
		prereq_missing "overlayfs over /$d"
done
mount -t tmpfs -o mode=0755 none /run && mkdir -p /run/lock || prereq_missing "a tmpfs on /run"

CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC" "$WORK/home" "$WORK/atmp"
cf_publish "$DOC" "$CF2021"
https_start "$DOC"

# ansible: this test's own home, temp dirs and (empty) configuration, nothing to syslog
: >"$WORK/ansible.cfg"
export HOME="$WORK/home" ANSIBLE_CONFIG="$WORK/ansible.cfg" ANSIBLE_LOCAL_TEMP="$WORK/atmp"
export ANSIBLE_REMOTE_TEMP="$WORK/atmp" ANSIBLE_NOCOLOR=1 ANSIBLE_NO_TARGET_SYSLOG=1
export ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_DEPRECATION_WARNINGS=0
cat >"$WORK/hosts" <<EOF
[origins]
origin ansible_connection=local ansible_python_interpreter=/usr/bin/python3 ansible_become=false
EOF
# install_vars: the variables every play here shares (the built binary and units, no timer),
# ending inside cdnallow_settings
install_vars() {
	cat <<EOF
cdnallow_package: ""
cdnallow_binary_src: $CDNALLOW
cdnallow_units_src: $CDNALLOW_SRC/contrib/systemd
cdnallow_timer: false
cdnallow_settings:
  max_shrink: 10%
EOF
}
# vars FILE [SOURCE-NAME URL...]: the role's variables; the target uses that one source
vars() {
	f=$1
	shift
	name=cloudflare
	if [ $# -gt 0 ]; then
		name=$1
		shift
	fi
	[ $# -gt 0 ] || set -- "$BASE/ips-v4" "$BASE/ips-v6"
	{
		install_vars
		cat <<EOF
  lock_timeout: 20s
cdnallow_sources:
  $name:
    provider: cloudflare
    url: [$(echo "$@" | sed 's/ /, /g')]
    ca_file: $CA
    timeout: 5
cdnallow_targets:
  edge:
    backend: nftables
    sources: $name
EOF
	} >"$f"
}
vars "$WORK/vars.yml"
play() {
	ansible-playbook -i "$WORK/hosts" "$CDNALLOW_SRC/contrib/ansible/playbook.yml" \
		-e "@$WORK/vars.yml" "$@" >"$WORK/play.out" 2>&1
	echo $? >"$WORK/play.rc"
}
# (every line of ansible's output behind '# ': a line 'ok: [origin]' is not a TAP result)
show() { echo "ansible-playbook exit $(cat "$WORK/play.rc"):"; sed 's/^/# /' "$WORK/play.out"; }
play_rc() { [ "$(cat "$WORK/play.rc")" = "$1" ] || { show; return 1; }; }
# task NAME STATUS: the role's task NAME reported STATUS (ok, changed, fatal, skipping)
task() {
	s=$(awk -v t="TASK [cdnallow : $1]" '
		index($0, t) == 1 { f = 1; next }
		f && /^TASK \[/ { print "none"; exit }
		f && /^(ok|changed|fatal|skipping|failed): / { sub(/:.*/, ""); print; exit }
		END { if (!f) print "absent" }' "$WORK/play.out")
	[ "$s" = "$2" ] || { echo "task '$1': $s, not $2"; show; return 1; }
}
recap() { # recap KEY=N...: PLAY RECAP's counts for the host
	for kv in "$@"; do
		grep -q "^origin  *:.* $kv " "$WORK/play.out" || { echo "recap: no $kv"; show; return 1; }
	done
}
# the cause as ansible printed it (cdnallow's stderr), for the log
cause() { grep -o '"stderr": "[^"]*"' "$WORK/play.out" | sed 's/^/# shown: /'; }
sets() { { nft_elems inet cdnallow allow_v4; nft_elems inet cdnallow allow_v6; } >"$1"; }
CONF=/etc/cdnallow/cdnallow.conf

# 1. first play: installs, configures, syncs
play
check "first play succeeds" play_rc 0
check "... installs the built binary (changed)" task "Install cdnallow (a built binary from the controller)" changed
check "... which is the build's, 0755, in the scratch /usr" sh -c \
	"cmp '$CDNALLOW' /usr/sbin/cdnallow && [ \$(stat -c %a /usr/sbin/cdnallow) = 755 ] &&
	 cmp '$CDNALLOW' '$OVL/usr/sbin/cdnallow'"
check "... and the units of contrib/systemd" sh -c \
	"for u in cdnallow.service cdnallow.timer cdnallow-restore.service; do
		cmp '$CDNALLOW_SRC/contrib/systemd/'\$u '$OVL/etc/systemd/system/'\$u || exit 1; done"
check "... writes the configuration from the template (root, 0644)" sh -c \
	"[ \$(stat -c %U:%a $CONF) = root:644 ] && grep -qx '\[source.cloudflare\]' $CONF &&
	 grep -qx 'url = $BASE/ips-v4 $BASE/ips-v6' $CONF && grep -qx 'max_shrink = 10%' $CONF &&
	 grep -qx 'sources = cloudflare' $CONF && '$CDNALLOW' -c $CONF check"
check "... the sync reports changed" task "Sync the allowlist" changed
check "... and shows what changed" task "Show what changed" ok
check "... the set holds the list" sh -c \
	"nft list set inet cdnallow allow_v4 | grep -q 173.245.48.0/20 &&
	 nft list set inet cdnallow allow_v6 | grep -q 2400:cb00::/32"
check "... the state is in the scratch /var" test -d "$OVL/var/lib/cdnallow"
check "... cdnallow itself agrees the target is in step (exit 0)" \
	"$CDNALLOW" -c $CONF -q --detailed-exitcode sync
check "... the timer task is skipped (cdnallow_timer: false)" task "Timer and boot-time restore" skipping
sets "$WORK/set1"

# 2. second play: nothing to do anywhere
play
check "second play succeeds" play_rc 0
check "... the sync reports ok" task "Sync the allowlist" ok
check "... no task changed (changed=0)" recap ok=.* changed=0 failed=0
check "... nothing shown" task "Show what changed" skipping

# 3. the list grows: check mode reports the change and applies nothing, then a play applies it
{ cat "$CF2021/ips-v4"; echo; echo 45.64.64.0/22; } >"$DOC/ips-v4.tmp" && mv "$DOC/ips-v4.tmp" "$DOC/ips-v4"
play --check
check "check mode succeeds" play_rc 0
check "... the sync reports the pending change" task "Sync the allowlist" changed
sets "$WORK/setc"
check "... and the set is as it was" cmp "$WORK/set1" "$WORK/setc"
play
check "the next play applies it (changed)" task "Sync the allowlist" changed
check "... the set holds the new prefix" sh -c "nft list set inet cdnallow allow_v4 | grep -q 45.64.64.0/22"
sets "$WORK/set2"

# 4. a list below the provider's floor (3 IPv4 prefixes) fails the play: exit 75, the last
# known good list kept, the cause shown
head -n 3 "$CF2021/ips-v4" >"$DOC/ips-v4.tmp" && mv "$DOC/ips-v4.tmp" "$DOC/ips-v4"
play
check "a list below the floor fails the play (exit 2)" play_rc 2
check "... at the sync task" task "Sync the allowlist" fatal
check "... with rc 75 and cdnallow's cause in ansible's output" sh -c \
	"grep -q '\"rc\": 75' '$WORK/play.out' && grep -q 'below the floor' '$WORK/play.out' &&
	 grep -q 'last known good' '$WORK/play.out'"
sets "$WORK/setx"
check "... and the set as it was" cmp "$WORK/set2" "$WORK/setx"
cause

# a guard refusal (12 of the 15 IPv4 prefixes left, max_shrink 10%) fails the play the same way
head -n 12 "$CF2021/ips-v4" >"$DOC/ips-v4.tmp" && mv "$DOC/ips-v4.tmp" "$DOC/ips-v4"
play
check "a guard refusal fails the play (exit 2)" play_rc 2
check "... at the sync task" task "Sync the allowlist" fatal
check "... with rc 3 and cdnallow's cause in ansible's output" sh -c \
	"grep -q '\"rc\": 3,' '$WORK/play.out' && grep -q 'max_shrink' '$WORK/play.out'"
sets "$WORK/setx"
check "... and the set as it was" cmp "$WORK/set2" "$WORK/setx"
cause
play -e cdnallow_force=true
check "cdnallow_force=true applies the refused change (changed)" task "Sync the allowlist" changed
check "... the set lost the prefixes" sh -c \
	"! nft list set inet cdnallow allow_v4 | grep -q 45.64.64.0/22"
sets "$WORK/set3"

# 5. a source that cannot be fetched and has no last known good list fails the play
vars "$WORK/vars.yml" gone "$BASE/gone-v4" "$BASE/gone-v6"
play
check "a source with no list fails the play (exit 2)" play_rc 2
check "... at the sync task" task "Sync the allowlist" fatal
check "... with the source, its URL and the HTTP status in ansible's output" sh -c \
	"grep -q 'gone' '$WORK/play.out' && grep -q 'gone-v4' '$WORK/play.out' &&
	 grep -q 404 '$WORK/play.out'" 
sets "$WORK/setx"
check "... and the set as it was" cmp "$WORK/set3" "$WORK/setx"
cause

# 6. a configuration cdnallow check rejects is never installed
vars "$WORK/vars.yml"
cp $CONF "$WORK/conf.before"
printf 'cdnallow_config: |\n  [cdnallow]\n  no_such_key = 1\n' >>"$WORK/vars.yml"
play
check "a configuration cdnallow rejects fails the play (exit 2)" play_rc 2
check "... at the configuration task, naming the bad key" sh -c \
	"grep -A3 'TASK \[cdnallow : Configuration, validated' '$WORK/play.out' | grep -q '^fatal:' &&
	 grep -q no_such_key '$WORK/play.out'"
cause
check "... the installed configuration is the old one" cmp "$WORK/conf.before" $CONF
check "... and the sync did not run" task "Sync the allowlist" absent

# 7. a fleet: the role as publisher (publish after the sync), then as a consumer of the signed
# snapshot (provider = snapshot) into a table of its own
"$CDNALLOW" keygen "$WORK/pub.key" >"$WORK/pub.line" 2>"$WORK/keygen.err"
check "keygen makes the publisher's key" test -s "$WORK/pub.line"
PUB=$(cat "$WORK/pub.line")
vars "$WORK/vars.yml"
cat >>"$WORK/vars.yml" <<EOF
cdnallow_publish_dir: $DOC/fleet
cdnallow_publish_key: $WORK/pub.key
cdnallow_publisher: ansible-1
EOF
play
check "publisher play succeeds" play_rc 0
check "... publishes (changed)" task "Publish the fleet's snapshot" changed
check "... the configuration names the key and the publisher" sh -c \
	"grep -qx 'publish_key = $WORK/pub.key' $CONF && grep -qx 'publisher = ansible-1' $CONF"
snap=$(sed -n 's/^\(snapshot-[0-9]*\.txt\)$/\1/p' "$DOC/fleet/latest" 2>/dev/null)
check "... the real minisign verifies the snapshot" \
	minisign -V -q -p "$WORK/pub.pub" -m "$DOC/fleet/${snap:-none}"
install_vars >"$WORK/vars.yml"
cat >>"$WORK/vars.yml" <<EOF
cdnallow_sources: {}
cdnallow_snapshot_url: [$BASE/fleet/latest]
cdnallow_snapshot_public_key: "$PUB"
cdnallow_snapshot_sources: [cloudflare]
cdnallow_snapshot_extra:
  ca_file: $CA
  timeout: 5
cdnallow_targets:
  edge:
    backend: nftables
    table: fleet
    sources: fleet
EOF
play
check "consumer play succeeds" play_rc 0
check "... the configuration has the snapshot source" sh -c \
	"grep -qx '\[source.fleet\]' $CONF && grep -qx 'provider = snapshot' $CONF &&
	 grep -qxF 'public_key = $PUB' $CONF && grep -qx 'sources = cloudflare' $CONF"
check "... the sync reports changed" task "Sync the allowlist" changed
{ nft_elems inet fleet allow_v4; nft_elems inet fleet allow_v6; } >"$WORK/setf" 2>&1
check "... the consumer's sets equal the publisher's" cmp "$WORK/set3" "$WORK/setf"
play
check "second consumer play: ok, changed=0" recap ok=.* changed=0 failed=0

# 8. the host's files are untouched
host_sum >"$WORK/host.after"
check "the host's files the role would write are unchanged" diff "$WORK/host.before" "$WORK/host.after"
finish
