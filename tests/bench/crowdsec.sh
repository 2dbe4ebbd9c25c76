#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A real peer, side by side: CrowdSec's nftables bouncer applying the same prefixes cdnallow
# applies in bench.sh. Not run by CI (it needs the Debian packages crowdsec and
# crowdsec-firewall-bouncer, which this script never installs or starts as services).
#
#   tests/bench/crowdsec.sh (as root) [--n 100000] [--family 4|6] [--keep]
#
# Everything runs inside a private network namespace (unshare -n) with scratch config, data
# and log directories: crowdsec's local API on 127.0.0.1 of that namespace only (-no-cs: no
# agent, -no-capi: no central API), the bouncer (mode nftables) polling it, cscli importing N
# ranges as "ban" decisions. The host's firewall, /etc/crowdsec and its services are not
# touched. Printed: time from the import to the bouncer's first and last kernel commit (the
# ruleset generation id, polled), the commits it took, the time the kernel held a partial
# list (a blocklist: decided addresses not yet blocked), the elements in the set at the end,
# peak RSS of the bouncer and of crowdsec; then cdnallow on the same list in the same
# namespace (an allowlist, one commit: never a partial list).
set -uo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
BENCH=$ROOT/tests/bench
BUILD=${BENCH_BUILD:-$ROOT/build-bench}
DATA=$BUILD/bench-data
N=100000 FAM=4 KEEP=0

die() { echo "crowdsec.sh: $*" >&2; exit 1; }
args=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--n) N=$2; shift ;;
	--family) FAM=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) sed -n '8p' "$0" | sed 's/^# //'; exit 0 ;;
	*) die "unknown option $1" ;;
	esac
	shift
done

if [ "${CDA_CS_IN_NS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || die "run as root"
	for p in crowdsec cscli crowdsec-firewall-bouncer nft python3 unshare; do
		command -v $p >/dev/null || die "$p is missing (apt-get install crowdsec" \
			"crowdsec-firewall-bouncer, with services kept from starting)"
	done
	meson compile -C "$BUILD" cdnallow rawbatch >/dev/null 2>&1 ||
		die "build $BUILD first (tests/bench/bench.sh --only full does)"
	mkdir -p "$DATA"
	A=$DATA/d${FAM}_${N}_0_a.txt
	if [ ! -s "$A" ]; then
		python3 "$BENCH/gen.py" disjoint --family "$FAM" --n "$N" --change 0 \
			--seed $((1000 + FAM * 7)) "$A.tmp" "$A.b.tmp" && mv "$A.tmp" "$A" &&
			rm -f "$A.b.tmp" || die "gen.py failed"
	fi
	exec unshare -n env CDA_CS_IN_NS=1 "$0" "${args[@]}"
fi

# ------------------------------------------------------------------------ inside the netns
ip link set lo up
A=$DATA/d${FAM}_${N}_0_a.txt
RAW=$BUILD/tests/bench/rawbatch CDA=$BUILD/cdnallow
W=$(mktemp -d /tmp/cdnallow-crowdsec.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ $KEEP = 1 ]; then echo "crowdsec.sh: work dir kept: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$W/etc/acquis.d" "$W/data" "$W/log" "$W/hub" "$W/etc/notifications"
cp /etc/crowdsec/profiles.yaml /etc/crowdsec/simulation.yaml "$W/etc/" 2>/dev/null ||
	die "/etc/crowdsec/profiles.yaml missing (is the crowdsec package unpacked?)"
echo '{}' >"$W/hub/.index.json"
: >"$W/etc/acquis.yaml"
PORT=18080
cat >"$W/etc/config.yaml" <<EOF
common:
  daemonize: false
  log_media: file
  log_level: info
  log_dir: $W/log/
  working_dir: $W
config_paths:
  config_dir: $W/etc/
  data_dir: $W/data/
  simulation_path: $W/etc/simulation.yaml
  hub_dir: $W/hub/
  index_path: $W/hub/.index.json
  notification_dir: $W/etc/notifications/
  plugin_dir: /usr/lib/crowdsec/plugins/
crowdsec_service:
  acquisition_path: $W/etc/acquis.yaml
  acquisition_dir: $W/etc/acquis.d
cscli:
  output: human
  color: "no"
db_config:
  log_level: info
  type: sqlite
  db_path: $W/data/crowdsec.db
  use_wal: true
api:
  client:
    insecure_skip_verify: false
    credentials_path: $W/etc/local_api_credentials.yaml
  server:
    log_level: info
    listen_uri: 127.0.0.1:$PORT
    profiles_path: $W/etc/profiles.yaml
    trusted_ips:
      - 127.0.0.1
prometheus:
  enabled: false
EOF
CS=(-c "$W/etc/config.yaml")
cscli "${CS[@]}" machines add bench --auto --force -f "$W/etc/local_api_credentials.yaml" \
	>"$W/log/cscli-machines.log" 2>&1 || { cat "$W/log/cscli-machines.log"; die "cscli machines add failed"; }
KEY=$(cscli "${CS[@]}" bouncers add benchfw -o raw 2>"$W/log/cscli-bouncers.log") ||
	{ cat "$W/log/cscli-bouncers.log"; die "cscli bouncers add failed"; }
KEY=$(printf '%s\n' "$KEY" | tail -n 1)
now() { python3 -c 'import time; print("%.6f" % time.monotonic())'; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

t0=$(now)
crowdsec "${CS[@]}" -no-cs -no-capi >"$W/log/crowdsec.out" 2>&1 &
CSPID=$!
PIDS+=("$CSPID")
for _ in $(seq 200); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" \
		2>/dev/null && break
	kill -0 "$CSPID" 2>/dev/null || { tail -n 20 "$W/log/"*.log "$W/log/crowdsec.out"; die "crowdsec exited"; }
	sleep 0.1
done
echo "crowdsec local API up after $(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}') s"

# the bouncer: nftables mode, its own tables, polling every second
cat >"$W/etc/bouncer.yaml" <<EOF
mode: nftables
pid_dir: $W/
update_frequency: 1s
daemonize: false
log_mode: file
log_dir: $W/log/
log_level: info
api_url: http://127.0.0.1:$PORT/
api_key: $KEY
disable_ipv6: false
deny_action: DROP
deny_log: false
supported_decisions_types:
  - ban
blacklists_ipv4: crowdsec-blacklists
blacklists_ipv6: crowdsec6-blacklists
nftables:
  ipv4:
    enabled: true
    set-only: false
    table: crowdsec
    chain: crowdsec-chain
  ipv6:
    enabled: true
    set-only: false
    table: crowdsec6
    chain: crowdsec6-chain
prometheus:
  enabled: false
EOF
crowdsec-firewall-bouncer -c "$W/etc/bouncer.yaml" >"$W/log/bouncer.out" 2>&1 &
BPID=$!
PIDS+=("$BPID")
T=crowdsec SET=crowdsec-blacklists NFAM=ip
[ "$FAM" = 6 ] && T=crowdsec6 SET=crowdsec6-blacklists NFAM=ip6
for _ in $(seq 100); do nft list set $NFAM $T $SET >/dev/null 2>&1 && break; sleep 0.1; done
nft list set $NFAM $T $SET >/dev/null 2>&1 ||
	{ tail -n 20 "$W/log/"*; die "the bouncer did not create $NFAM $T $SET"; }

# watch the kernel: the ruleset generation id (one per commit) polled every 20 ms, each
# change logged with its time. Not nft monitor: its notifications, one per element, cost the
# committing process more than the commit (cdnallow's 100k apply took 3.7 s with it running).
python3 - "$W/monitor.log" "$RAW" <<'PY' &
import signal, subprocess, sys, time
out = open(sys.argv[1], "w")
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
last = None
while True:
    g = subprocess.run([sys.argv[2], "-G"], capture_output=True, text=True).stdout.strip()
    if g != last:
        out.write("%.6f %s\n" % (time.monotonic(), g))
        out.flush()
        last = g
    time.sleep(0.02)
PY
MPID=$!
PIDS+=("$MPID")
sleep 0.5
python3 - "$A" "$W/decisions.csv" <<'PY'
import sys
with open(sys.argv[2], "w") as f:
    f.write("duration,scope,type,value\n")
    for l in open(sys.argv[1]):
        if l.strip():
            f.write("24h,range,ban,%s\n" % l.strip())
PY
g0=$("$RAW" -G)
ti=$(now)
cscli "${CS[@]}" decisions import -i "$W/decisions.csv" >"$W/log/import.log" 2>&1 ||
	{ tail -n 5 "$W/log/import.log"; die "cscli decisions import failed"; }
timp=$(now)
echo "cscli decisions import of $N ranges: $(awk -v a="$ti" -v b="$timp" 'BEGIN {printf "%.2f", b - a}') s"
# wait until the set holds N elements (counted once the commits pause for 10 s), or 600 s
count() { nft -j list set $NFAM $T $SET | python3 -c 'import json, sys
d = json.load(sys.stdin)
print(sum(len(o["set"].get("elem", [])) for o in d["nftables"] if "set" in o))'; }
deadline=$(awk -v t="$timp" 'BEGIN {print t + 600}')
inset=0 counted=''
while :; do
	sleep 1
	lastc=$(tail -n 1 "$W/monitor.log" | awk '{print $1}')
	if awk -v a="$(now)" -v l="$lastc" 'BEGIN {exit !(a - l > 10)}'; then
		# no commit for 10 s: count; a count taken after the same last commit is final
		[ "$counted" = "$lastc" ] && break
		inset=$(count)
		counted=$lastc
		[ "$inset" -ge "$N" ] && break
	fi
	awk -v a="$(now)" -v d="$deadline" 'BEGIN {exit !(a > d)}' && break
	kill -0 "$BPID" 2>/dev/null || break
done
g1=$("$RAW" -G)
first=$(awk -v g="$g0" '$2 != g {print $1; exit}' "$W/monitor.log")
full=$(tail -n 1 "$W/monitor.log" | awk '{print $1}')
bh=$(hwm "$BPID") ch=$(hwm "$CSPID")
echo
echo "| crowdsec-firewall-bouncer $(dpkg-query -W -f '${Version}' crowdsec-firewall-bouncer 2>/dev/null), crowdsec $(dpkg-query -W -f '${Version}' crowdsec 2>/dev/null), IPv$FAM, $N ranges | |"
echo "|---|---:|"
echo "| import (cscli decisions import) | $(awk -v a="$ti" -v b="$timp" 'BEGIN {printf "%.2f s", b - a}') |"
echo "| import start -> first commit | $(awk -v a="$ti" -v b="${first:-nan}" 'BEGIN {printf "%.2f s", b - a}') |"
echo "| import start -> last commit | $(awk -v a="$ti" -v b="${full:-nan}" 'BEGIN {printf "%.2f s", b - a}') |"
echo "| time the kernel held a partial list (first to last commit) | $(awk -v a="${first:-nan}" -v b="${full:-nan}" 'BEGIN {if (a == "nan" || b == "nan") print "-"; else printf "%.2f s", b - a}') |"
echo "| elements in the set at the end (of $N) | $inset |"
echo "| kernel commits (genid after - before) | $((g1 - g0)) |"
echo "| bouncer peak RSS | $(awk -v k="$bh" 'BEGIN {printf "%.1f MB", k / 1024}') |"
echo "| crowdsec (LAPI) peak RSS | $(awk -v k="$ch" 'BEGIN {printf "%.1f MB", k / 1024}') |"
kill "$MPID" 2>/dev/null

# cdnallow, same list, same namespace, for comparison
mkdir -m 700 "$W/cda-state"
cp "$A" "$W/list.txt"
v4=allow_v4 v6=allow_v6
[ "$FAM" = 4 ] && v6=none
[ "$FAM" = 6 ] && v4=none
cat >"$W/cda.conf" <<EOF
[cdnallow]
state_dir = $W/cda-state
max_shrink = 100%
max_bytes = 512M

[source.bench]
provider = text
url = file://$W/list.txt

[target.bench]
backend = nftables
sources = bench
table = cdnallow
set_v4 = $v4
set_v6 = $v6
EOF
chmod 600 "$W/cda.conf"
g0=$("$RAW" -G)
CDNALLOW_NO_SYSLOG=1 python3 "$BENCH/tm.py" "$W/cda.tm" /dev/null "$W/cda.err" -- \
	"$CDA" -c "$W/cda.conf" -q sync || { cat "$W/cda.err"; die "cdnallow failed"; }
sleep 1
g1=$("$RAW" -G)
read -r cw cu cs crss _ <"$W/cda.tm"
echo "| cdnallow $("$CDA" --version | awk '{print $2}'), same list: wall (all in the kernel) | $(printf '%.2f s' "$cw") |"
echo "| cdnallow CPU (user+sys) | $(awk -v u="$cu" -v s="$cs" 'BEGIN {printf "%.2f s", u + s}') |"
echo "| cdnallow kernel commits | $((g1 - g0)) |"
echo "| cdnallow peak RSS | $(awk -v k="$crss" 'BEGIN {printf "%.1f MB", k / 1024}') |"
