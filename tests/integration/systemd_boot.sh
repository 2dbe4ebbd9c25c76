#!/bin/sh
# SPDX-License-Identifier: MIT
# cdnallow under a real systemd: boots a Debian 12 container (systemd-nspawn, its own network
# namespace: nothing reaches the host's firewall), installs the built binary and the units
# of contrib/systemd, and checks that `systemctl reload|restart|stop+start nftables` with
# Debian's own /etc/nftables.conf (`flush ruleset` first) leave the allowlist in place:
# through the restore unit without the include (the window is measured and printed), in the
# same transaction with it. Then a reboot restores before any sync.
# The root is debootstrapped once (about a minute) into CDNALLOW_TEST_CACHE (default
# /var/cache/cdnallow-test) and used through an overlay, so a run takes well under a minute.
# Outside CI a missing tool or a container that cannot boot skips (77); with CI=true it fails.
set -u
: "${CDNALLOW:?CDNALLOW must point at the built binary}"
: "${CDNALLOW_SRC:?CDNALLOW_SRC must point at the source tree}"
CACHE=${CDNALLOW_TEST_CACHE:-/var/cache/cdnallow-test}
PKGS=systemd,systemd-sysv,dbus,nftables,libcurl4,libnftnl11,libmnl0,libiniparser1,libjson-c5,libsodium23,libseccomp2,libsystemd0,iproute2,ca-certificates,python3
CF="$CDNALLOW_SRC/tests/data/cloudflare/plug_cloudflare_2021-11-18_522639f"
T_N=0
T_FAIL=0

ok() { T_N=$((T_N + 1)); echo "ok $T_N - $1"; }
not_ok() {
	T_N=$((T_N + 1))
	T_FAIL=$((T_FAIL + 1))
	echo "not ok $T_N - $1"
	shift
	for l in "$@"; do echo "$l" | sed 's/^/# /'; done
}
check() { d=$1; shift; if "$@" >"$W/check.out" 2>&1; then ok "$d"; else not_ok "$d" "$(cat "$W/check.out")"; fi; }
cannot() {
	echo "# cannot run: $*" >&2
	[ -n "${W:-}" ] && [ -s "$W/console.log" ] && tail -n 20 "$W/console.log" | sed 's/^/# /' >&2
	if [ "${CI:-}" = true ]; then
		echo "not ok $((T_N + 1)) - $*"
		echo "1..$((T_N + 1))"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 77
}

[ "$(id -u)" = 0 ] || cannot "root (systemd-nspawn)"
for c in systemd-nspawn debootstrap nsenter flock sha256sum; do
	command -v $c >/dev/null 2>&1 || cannot "$c (apt-get install systemd-container debootstrap)"
done

# --- the cached root --------------------------------------------------------------------
mirror() {
	sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources \
		2>/dev/null | grep -v security | head -n 1
	sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]*\)\{0,1\}\([^[:space:]]*\)[[:space:]].*/\2/p' \
		/etc/apt/sources.list 2>/dev/null | grep -v security | head -n 1
}
key=$(echo "bookworm minbase $PKGS" | sha256sum | cut -c1-12)
ROOT="$CACHE/bookworm-$key"
mkdir -p "$CACHE" || cannot "cannot create $CACHE"
(
	flock 9
	[ -x "$ROOT/lib/systemd/systemd" ] && exit 0
	url=$(mirror | head -n 1)
	[ -n "$url" ] || exit 2
	rm -rf "$ROOT.tmp"
	debootstrap --variant=minbase --include="$PKGS" bookworm "$ROOT.tmp" "$url" \
		>"$CACHE/debootstrap.log" 2>&1 && mv "$ROOT.tmp" "$ROOT"
) 9>"$CACHE/.lock" || cannot "debootstrap of a Debian 12 root failed (see $CACHE/debootstrap.log)"

# nspawn expects these from a host systemd; this host may have none as PID 1
mkdir -p /run/systemd/inaccessible && (
	cd /run/systemd/inaccessible &&
		{ [ -e reg ] || install -m 0000 /dev/null reg; } && mkdir -p dir && chmod 0000 dir &&
		{ [ -e fifo ] || mkfifo -m 0000 fifo; } && { [ -e chr ] || mknod -m 0000 chr c 0 0; } &&
		{ [ -e blk ] || mknod -m 0000 blk b 0 0; }
) || cannot "/run/systemd/inaccessible"

# --- a throwaway copy of it, with cdnallow installed -----------------------------------
W=$(mktemp -d /tmp/cdnallow-nspawn.XXXXXX)
R="$W/root"
NSPAWN=
cleanup() {
	if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
		kill "$NSPAWN" 2>/dev/null
		sleep 1
		kill -9 "$NSPAWN" 2>/dev/null
		wait "$NSPAWN" 2>/dev/null
	fi
	mountpoint -q "$R" && umount "$R"
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
mkdir -p "$R" "$W/upper" "$W/work"
if ! mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$W/upper,workdir=$W/work" "$R" \
	2>/dev/null; then
	cp -a "$ROOT/." "$R/" || cannot "copying the root"
fi
install -m 0755 "$CDNALLOW" "$R/usr/sbin/cdnallow"
# a library the binary gained but PKGS lacks would fail every check below: name it here
missing=$(chroot "$R" ldd /usr/sbin/cdnallow 2>&1 | grep 'not found')
if [ -n "$missing" ]; then
	echo "Bail out! the container root lacks libraries of cdnallow (add their packages to PKGS): $missing"
	exit 1
fi
for u in cdnallow.service cdnallow.timer cdnallow-restore.service; do
	install -m 0644 "$CDNALLOW_SRC/contrib/systemd/$u" "$R/lib/systemd/system/$u"
done
install -m 0755 "$CDNALLOW_SRC/tests/integration/nftwindow.py" "$R/usr/local/bin/nftwindow"
mkdir -p "$R/etc/cdnallow/lists"
cp "$CF/ips-v4" "$CF/ips-v6" "$R/etc/cdnallow/lists/"
cat >"$R/etc/cdnallow/cdnallow.conf" <<'EOF'
[cdnallow]
state_dir = /var/lib/cdnallow

[source.cloudflare]
provider = cloudflare
url = file:///etc/cdnallow/lists/ips-v4 file:///etc/cdnallow/lists/ips-v6

[target.edge]
backend = nftables
sources = cloudflare
lock_ports = 443
EOF
chmod 0600 "$R/etc/cdnallow/cdnallow.conf"
cp "$R/etc/nftables.conf" "$W/nftables.conf.debian"
check "the container's /etc/nftables.conf is Debian's, with flush ruleset" \
	grep -qx "flush ruleset" "$R/etc/nftables.conf"
# what the admin does (README.Debian): the restore unit enabled, nftables enabled
chroot "$R" systemctl enable nftables.service cdnallow-restore.service >"$W/enable.log" 2>&1 ||
	cannot "systemctl enable in the root: $(cat "$W/enable.log")"

LEADER=
boot() {
	systemd-nspawn -q -D "$R" --private-network --register=no --keep-unit \
		-M "cdatest$$" -b >"$W/console.log" 2>&1 &
	NSPAWN=$!
	i=0
	LEADER=
	# the container's PID 1 is the child of nspawn, once it has exec'd systemd
	while [ -z "$LEADER" ] && [ $i -lt 200 ]; do
		sleep 0.1
		for p in $(pgrep -P "$NSPAWN"); do
			[ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && LEADER=$p
		done
		i=$((i + 1))
	done
	[ -n "$LEADER" ] || return 1
	# the manager's socket appears a moment after PID 1 starts
	i=0
	while [ $i -lt 300 ]; do
		state=$(timeout 60 nsenter -t "$LEADER" -a systemctl is-system-running --wait 2>&1)
		case $state in
		running | degraded) return 0 ;;
		*"Failed to connect"* | *"No such file"* | offline) sleep 0.2 ;;
		*) echo "$state" >&2; return 1 ;;
		esac
		i=$((i + 1))
	done
	return 1
}
poweroff() {
	ct systemctl poweroff >/dev/null 2>&1
	i=0
	while kill -0 "$NSPAWN" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 "$NSPAWN" 2>/dev/null && return 1
	wait "$NSPAWN" 2>/dev/null
	NSPAWN=
}
ct() { timeout 60 nsenter -t "$LEADER" -a "$@"; }
elems() { ct nft list set inet cdnallow allow_v4 2>/dev/null | grep -c '/'; }

# measure ACTION...: the window between nftables' transaction and our elements being back
WINDOWS=
measure() { # NAME COMMAND...
	name=$1
	shift
	ct nftwindow inet cdnallow allow_v4 10 >"$W/window" 2>&1 &
	mon=$!
	i=0
	while ! grep -q READY "$W/window" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	ct "$@" >"$W/action.log" 2>&1
	wait "$mon"
	w=$(sed -n 's/^window_ms=\([^ ]*\).*/\1/p' "$W/window")
	WINDOWS="$WINDOWS $name=${w}ms"
	echo "# $name: $(grep window_ms "$W/window")"
	[ "$w" != none ] && [ -n "$w" ]
}

boot || cannot "the Debian 12 container did not boot"
ok "the container boots with a real systemd ($(ct systemctl --version | head -n 1))"

# 1. first boot: nothing synced yet, the restore unit skips (its condition)
check "first boot: cdnallow-restore skipped (no last known good list)" \
	sh -c "[ \"\$(timeout 60 nsenter -t $LEADER -a systemctl show -P ConditionResult cdnallow-restore.service)\" = no ]"

# 2. the first sync under the shipped hardening, and the restore unit armed after it
check "cdnallow.service syncs under its hardening" ct systemctl start cdnallow.service
# when it failed, the reason is in the container's journal: show it
ct systemctl is-failed --quiet cdnallow.service &&
	ct journalctl -u cdnallow.service --no-pager -n 30 2>&1 | sed 's/^/# /'
check "the sets are filled" sh -c "[ \$(timeout 60 nsenter -t $LEADER -a nft list set inet cdnallow allow_v4 | grep -c /) -gt 5 ]"
check "the script is written, 0600" sh -c "[ \"\$(stat -c %a '$R/var/lib/cdnallow/edge.nft')\" = 600 ]"
sleep 1
check "the successful sync started cdnallow-restore (OnSuccess), which stays active" \
	sh -c "[ \"\$(timeout 60 nsenter -t $LEADER -a systemctl is-active cdnallow-restore.service)\" = active ]"
ct nft list table inet cdnallow >"$W/good"

same_table() { ct nft list table inet cdnallow >"$W/now" 2>&1 && cmp -s "$W/good" "$W/now"; }
# the elements can be back before the lock's rules (same transaction though): wait a moment
settled() { i=0; while ! same_table && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; same_table; }

# 3. without the include: the restore unit runs again after each nftables job
check "reload nftables: allowlist back (window measured)" measure reload systemctl reload nftables
check "reload nftables: put back by cdnallow (the restore unit)" grep -q "by=cdnallow$" "$W/window"
check "reload nftables: table, sets and lock exactly as before" settled
check "restart nftables: allowlist back" measure restart systemctl restart nftables
check "restart nftables: table, sets and lock exactly as before" settled
ct systemctl stop nftables >/dev/null 2>&1
check "stop nftables flushes the ruleset (and stops the restore unit: PartOf)" \
	sh -c "! timeout 60 nsenter -t $LEADER -a nft list table inet cdnallow >/dev/null 2>&1"
check "start nftables: allowlist back (the restore unit is WantedBy it)" \
	measure start systemctl start nftables
check "start nftables: table, sets and lock exactly as before" settled
check "the restore unit is active again" \
	sh -c "[ \"\$(timeout 60 nsenter -t $LEADER -a systemctl is-active cdnallow-restore.service)\" = active ]"

# 4. with the include as the last line: back within nftables' own transaction
echo 'include "/var/lib/cdnallow/*.nft"' >>"$R/etc/nftables.conf"
check "reload nftables with the include: allowlist back" \
	measure reload+include systemctl reload nftables
check "reload with the include: in the same transaction (window 0)" \
	grep -q "same_transaction=yes" "$W/window"
check "reload with the include: table, sets and lock exactly as before" settled
# a restart still runs ExecStop (flush ruleset) first: a window until nftables' own start
check "restart nftables with the include: allowlist back" \
	measure restart+include systemctl restart nftables
check "restart with the include: put back by nftables' own start (nft), not the fallback" \
	grep -q "by=nft$" "$W/window"
check "restart with the include: table, sets and lock exactly as before" settled

# 5. a reboot (without the include): restored at boot, before any sync, and after the other
# firewall managers. Stand-ins for ufw.service and netfilter-persistent.service (neither is
# in the root): Debian's ordering lines, with a slow ExecStart in place of ufw-init and
# netfilter-persistent, so that a restore running beside them shows.
cp "$W/nftables.conf.debian" "$R/etc/nftables.conf"
for u in ufw netfilter-persistent; do
	cat >"$R/etc/systemd/system/$u.service" <<EOF
[Unit]
Description=stand-in for Debian's $u.service (its dependency lines)
DefaultDependencies=no
Before=network-pre.target
Wants=network-pre.target local-fs.target
After=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sleep 1

[Install]
WantedBy=multi-user.target
EOF
done
chroot "$R" systemctl enable ufw.service netfilter-persistent.service >"$W/enable.log" 2>&1 ||
	not_ok "enable the stand-ins" "$(cat "$W/enable.log")"
# a unit's property, monotonic usec
prop() { timeout 60 nsenter -t "$LEADER" -a systemctl show -P "$2" "$1"; }
poweroff || not_ok "the container powers off"
if boot; then
	ok "the container boots again"
	check "after a reboot: restored before any sync (cdnallow-restore ran)" \
		sh -c "[ \"\$(timeout 60 nsenter -t $LEADER -a systemctl show -P ConditionResult cdnallow-restore.service)\" = yes ]"
	check "after a reboot: table, sets and lock exactly as before" settled
	for u in ufw netfilter-persistent; do
		up=$(prop "$u.service" ActiveEnterTimestampMonotonic)
		ours=$(prop cdnallow-restore.service InactiveExitTimestampMonotonic)
		echo "# after a reboot: $u.service done at ${up}us, cdnallow-restore started at ${ours}us"
		check "after a reboot: cdnallow-restore started after $u.service was done" \
			sh -c "[ \"${up:-0}\" -gt 0 ] && [ \"${ours:-0}\" -ge \"${up:-0}\" ]"
	done
	check "after a reboot: cdnallow.service did not run" \
		sh -c "[ \"\$(timeout 60 nsenter -t $LEADER -a systemctl show -P ExecMainStartTimestampMonotonic cdnallow.service)\" = 0 ]"
	check "after a reboot: reload nftables still puts it back" \
		measure reload-after-boot systemctl reload nftables
	check "after a reboot: ... exactly" settled
	check "no failed unit" sh -c "[ -z \"\$(timeout 60 nsenter -t $LEADER -a systemctl list-units --failed --plain --no-legend)\" ]"
	poweroff || not_ok "the container powers off again"
else
	not_ok "the container boots again" "$(tail -n 20 "$W/console.log")"
fi
echo "# windows (nftables' transaction -> allowlist back):$WINDOWS"
echo "1..$T_N"
[ "$T_FAIL" = 0 ]
