# SPDX-License-Identifier: MIT
# Shared helpers for the integration scripts (sourced, POSIX sh + a few bash-isms avoided).
#
# Every script calls `netns_enter "$@"` first: it re-executes the script under
# `unshare -n`, a private network namespace with only a loopback, so every nft, iptables
# and HTTPS exchange stays inside it and vanishes with it. Root is required; outside CI a
# missing prerequisite skips (77), with CI=true it fails: a skip is never a pass.

: "${CDNALLOW:?CDNALLOW must point at the built binary}"
: "${CDNALLOW_SRC:?CDNALLOW_SRC must point at the source tree}"
DATA="$CDNALLOW_SRC/tests/data"
HTTPSD="$CDNALLOW_SRC/tests/integration/httpsd.py"
export CDNALLOW_NO_SYSLOG=1

T_PASS=0
T_FAIL=0
T_N=0

prereq_missing() {
	echo "# prerequisite missing: $*" >&2
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - prerequisite: $*"
		exit 1
	fi
	exit 77
}

netns_enter() {
	if [ "${CDNALLOW_IN_NETNS:-}" != 1 ]; then
		[ "$(id -u)" = 0 ] || prereq_missing "root (for network namespaces)"
		command -v unshare >/dev/null || prereq_missing "unshare"
		CDNALLOW_IN_NETNS=1 exec unshare -n -- sh "$0" "$@"
	fi
	ip link set lo up || prereq_missing "ip link set lo up"
	nft list ruleset >/dev/null 2>&1 || prereq_missing "nftables in the kernel"
	WORK=$(mktemp -d /tmp/cdnallow-it.XXXXXX)
	trap cleanup EXIT INT TERM
	[ "${KEEP_WORK:-}" = 1 ] && trap - EXIT
}

cleanup() {
	# the server gets SIGKILL when it has not ended 5 s after SIGTERM: cleanup never hangs
	if [ -n "${HTTPSD_PID:-}" ] && kill "$HTTPSD_PID" 2>/dev/null; then
		i=0
		while kill -0 "$HTTPSD_PID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$HTTPSD_PID" 2>/dev/null
		wait "$HTTPSD_PID" 2>/dev/null
	fi
	rm -rf "$WORK"
}

ok() {
	T_N=$((T_N + 1))
	T_PASS=$((T_PASS + 1))
	echo "ok $T_N - $1"
}

not_ok() {
	T_N=$((T_N + 1))
	T_FAIL=$((T_FAIL + 1))
	echo "not ok $T_N - $1"
	shift
	for l in "$@"; do echo "# $l"; done
}

# check DESCRIPTION COMMAND...: ok when the command succeeds
check() {
	d=$1
	shift
	if "$@" >"$WORK/check.out" 2>&1; then ok "$d"; else not_ok "$d" "$(cat "$WORK/check.out")"; fi
}

finish() {
	echo "1..$T_N"
	echo "# $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" = 0 ]
}

# https_start DOCROOT: serve DOCROOT over HTTPS on loopback; sets PORT, CA, BASE, REQLOG
https_start() {
	mkdir -p "$WORK/ca"
	python3 "$HTTPSD" --mkca "$WORK/ca" || prereq_missing "openssl/python3 for the CA"
	CA="$WORK/ca/ca.pem"
	REQLOG="$WORK/requests.log"
	: >"$REQLOG"
	rm -f "$WORK/port"
	python3 "$HTTPSD" --dir "$1" --port-file "$WORK/port" --cert "$WORK/ca/server.pem" \
		--key "$WORK/ca/server.key" --log "$REQLOG" &
	HTTPSD_PID=$!
	i=0
	while [ ! -s "$WORK/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -s "$WORK/port" ] || prereq_missing "the test HTTPS server did not start"
	PORT=$(cat "$WORK/port")
	BASE="https://127.0.0.1:$PORT"
}

# Publish a Cloudflare list version into the docroot: cf_publish DOCROOT DATADIR
cf_publish() {
	cp "$2/ips-v4" "$1/ips-v4.tmp" && mv "$1/ips-v4.tmp" "$1/ips-v4"
	cp "$2/ips-v6" "$1/ips-v6.tmp" && mv "$1/ips-v6.tmp" "$1/ips-v6"
}

# Write a config for one nftables target fed by the cloudflare provider from BASE.
# cf_config FILE [extra target lines...]
cf_config() {
	f=$1
	shift
	{
		echo "[cdnallow]"
		echo "state_dir = $WORK/state"
		echo "lock_timeout = 20s"
		echo "[source.cloudflare]"
		echo "provider = cloudflare"
		echo "url = $BASE/ips-v4 $BASE/ips-v6"
		echo "ca_file = $CA"
		echo "timeout = 5"
		echo "[target.edge]"
		echo "backend = nftables"
		echo "sources = cloudflare"
		for l in "$@"; do echo "$l"; done
	} >"$f"
	chmod 600 "$f"
}

# The elements of an nft set, one canonical CIDR or range per line, sorted.
nft_elems() {
	nft list set "$1" "$2" "$3" 2>/dev/null |
		tr -d '\n\t' | sed -n 's/.*elements = {\([^}]*\)}.*/\1/p' | tr -d ' ' | tr ',' '\n' |
		sed '/^$/d' | sort
}

# A file's content, ignoring nothing: for before/after comparisons of whole state dirs.
tree_sum() {
	(cd "$1" 2>/dev/null && find . -type f ! -name lock -exec sha256sum {} + | sort) || true
}
