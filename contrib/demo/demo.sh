#!/bin/sh
# SPDX-License-Identifier: MIT
# Offline demo of the main job: builds cdnallow (installing missing Debian build
# dependencies), then, inside a private network namespace that vanishes afterwards, serves
# two real Cloudflare list versions (2015 and today's) from a local HTTPS server with a
# throwaway CA, and syncs them into nftables sets. Never touches the host's firewall.
# Usage (as root): contrib/demo/demo.sh
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${CDNALLOW_IN_NETNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "demo: run as root (it needs a network namespace)" >&2; exit 1; }
	"$SRC/contrib/deps.sh"
	[ -d "$SRC/build" ] || meson setup "$SRC/build" >/dev/null
	meson compile -C "$SRC/build" >/dev/null
	CDNALLOW_IN_NETNS=1 exec unshare -n -- sh "$0" "$@"
fi

B=$SRC/build/cdnallow
W=$(mktemp -d /tmp/cdnallow-demo.XXXXXX)
trap 'kill $PID 2>/dev/null; rm -rf "$W"' EXIT INT TERM
ip link set lo up
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@" || echo "(exit status $?)"; }

mkdir -p "$W/www"
python3 "$SRC/tests/integration/httpsd.py" --mkca "$W/ca"
python3 "$SRC/tests/integration/httpsd.py" --dir "$W/www" --port-file "$W/port" \
	--cert "$W/ca/server.pem" --key "$W/ca/server.key" --log "$W/requests.log" &
PID=$!
while [ ! -s "$W/port" ]; do sleep 0.05; done
URL="https://127.0.0.1:$(cat "$W/port")"
publish() { cp "$1/ips-v4" "$W/www/ips-v4"; cp "$1/ips-v6" "$W/www/ips-v6"; }
cat >"$W/cdnallow.conf" <<EOF2
[cdnallow]
state_dir = $W/state
max_shrink = 10%

[source.cloudflare]
provider = cloudflare
url = $URL/ips-v4 $URL/ips-v6
ca_file = $W/ca/ca.pem

[target.edge]
backend = nftables
sources = cloudflare
table = cdnallow
set_v4 = allow_v4
set_v6 = allow_v6
EOF2
chmod 600 "$W/cdnallow.conf"
export CDNALLOW_NO_SYSLOG=1
C="$B -c $W/cdnallow.conf"

step "Serving Cloudflare's list of 2015-05-10 from $URL (private network namespace)"
publish "$SRC/tests/data/cloudflare/plug_cloudflare_2015-05-10_a48ec64"
show $C sync
show nft list table inet cdnallow

step "Nothing changed upstream: conditional requests, the server answers 304, nothing applied"
show $C sync -v

step "Cloudflare publishes today's list: 2 of 14 IPv4 entries go, so the shrink guard refuses"
publish "$SRC/tests/data/cloudflare/plug_cloudflare_2021-11-18_522639f"
show $C sync

step "What the change would be (diff changes nothing), then apply it deliberately with --force"
show $C diff --force
show $C sync --force
show nft list table inet cdnallow

step "A bad download (an HTML challenge page with 200) never reaches the firewall"
echo html >"$W/www/ips-v4.fault"
show $C sync
rm -f "$W/www/ips-v4.fault"
show nft list set inet cdnallow allow_v4

step "Done: the namespace, its ruleset and the demo's files are removed"
