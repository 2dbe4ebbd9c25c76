# SPDX-License-Identifier: MIT
# A private UFW for the ufw tests (sourced after lib.sh, instead of calling netns_enter).
#
# ufw_enter re-executes the script under `unshare -m -n`: a private mount namespace as well
# as a private network namespace. ufw_scratch then mounts, in that mount namespace only, a
# tmpfs on /run (UFW's lock, ip netns) and a scratch /etc/ufw and /etc/default/ufw made from
# the ufw package's own templates (/usr/share/ufw), so that `ufw enable`, `ufw default` and
# cdnallow's edits never reach the host's files. The host's /etc/ufw is never read or written.

# ufw_enter "$@": call instead of netns_enter
ufw_enter() {
	if [ "${CDNALLOW_IN_NETNS:-}" != 1 ]; then
		[ "$(id -u)" = 0 ] || prereq_missing "root (for namespaces)"
		command -v unshare >/dev/null || prereq_missing "unshare"
		for p in ufw ipset iptables-restore ip6tables-restore; do
			command -v "$p" >/dev/null || prereq_missing "$p (Debian packages ufw, ipset, iptables)"
		done
		[ -x /lib/ufw/ufw-init ] && [ -s /usr/share/ufw/before.init ] ||
			prereq_missing "the ufw package's ufw-init and templates"
		CDNALLOW_IN_NETNS=1 exec unshare -m -n -- sh "$0" "$@"
	fi
	netns_enter "$@"
}

# ufw_scratch: private /run, /etc/ufw and /etc/default/ufw (default deny incoming, IPv6 on,
# no sysctl file: the host's kernel settings are left alone). Sets UFWDIR (the scratch copy).
ufw_scratch() {
	UFWDIR="$WORK/etc-ufw"
	mkdir -p "$UFWDIR/applications.d"
	chmod 755 "$UFWDIR"
	for f in before.rules before6.rules after.rules after6.rules user.rules user6.rules; do
		cp /usr/share/ufw/iptables/$f "$UFWDIR/$f" || prereq_missing "/usr/share/ufw/iptables/$f"
	done
	cp /usr/share/ufw/before.init /usr/share/ufw/after.init /usr/share/ufw/ufw.conf "$UFWDIR/"
	chmod 640 "$UFWDIR"/*.rules "$UFWDIR"/*.init
	cat >"$WORK/default-ufw" <<'EOF'
IPV6=yes
DEFAULT_INPUT_POLICY="DROP"
DEFAULT_OUTPUT_POLICY="ACCEPT"
DEFAULT_FORWARD_POLICY="DROP"
DEFAULT_APPLICATION_POLICY="SKIP"
MANAGE_BUILTINS=no
IPT_SYSCTL=
IPT_MODULES=""
EOF
	# any failure here must stop the test before ufw runs: it would write the host's files
	if ! mount -t tmpfs -o mode=755 cda-run /run ||
		! mount --bind "$UFWDIR" /etc/ufw ||
		! mount --bind "$WORK/default-ufw" /etc/default/ufw ||
		[ "$(stat -c %d:%i /etc/ufw)" != "$(stat -c %d:%i "$UFWDIR")" ] ||
		[ "$(stat -c %d:%i /etc/default/ufw)" != "$(stat -c %d:%i "$WORK/default-ufw")" ]; then
		echo "not ok 1 - private /run, /etc/ufw and /etc/default/ufw could not be mounted"
		exit 1
	fi
}

# ufw_strip FILE: FILE without our blocks (what the admin wrote)
ufw_strip() { sed '/^# BEGIN cdnallow$/,/^# END cdnallow$/d' "$1"; }

# ufw_blocks FILE: how many blocks of ours FILE holds
ufw_blocks() { grep -c '^# BEGIN cdnallow$' "$1"; }

# ipset_members NAME: the set's members, sorted
ipset_members() { ipset list "$1" 2>/dev/null | sed -n '/^Members:/,$p' | sed '1d;/^$/d' | sort; }

# fw_snapshot FILE: the live firewall (rules without counters, sets) and UFW's files
fw_snapshot() {
	{
		iptables -S
		ip6tables -S
		ipset save
		for f in /etc/ufw/*.rules /etc/ufw/*.init; do echo "== $f"; cat "$f"; done
		stat -c '%n %a' /etc/ufw/before.init
	} >"$1" 2>&1
}
