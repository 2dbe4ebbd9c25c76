# SPDX-License-Identifier: MIT
# Namespaces joined by veth for the traffic tests (sourced after lib.sh and netns_enter).
#
# The script already runs in a private network namespace (netns_enter); inside it, named
# namespaces cda-<pid>-NAME are created with `ip netns add` and deleted by the EXIT trap, so
# the host's firewall is never touched. Every command for a namespace goes through `nsx NAME`.
#
#   origin  the server: v-in 104.16.0.1/24 2400:cb00::1/64 (toward cin), v-out 45.0.0.1/24
#           2a01:4f8::1/64 (toward cout), v-ctr 172.30.0.1/24 (toward ctr, optional)
#   cin     a client inside the CDN list: 104.16.0.10, 2400:cb00::10
#   cout    a client outside it: 45.0.0.10, 2a01:4f8::10
#   ctr     a "container" behind DNAT on the origin (traffic_topology with_ctr)

NSP="cda-$$-"
ORIGIN="${NSP}origin"
CIN="${NSP}cin"
COUT="${NSP}cout"
CTR="${NSP}ctr"
PROBE="$CDNALLOW_SRC/tests/integration/probe.py"
BG_PIDS=""

command -v ip >/dev/null || prereq_missing "iproute2 (ip)"

nsx() {
	_nsx=$1
	shift
	ip netns exec "$_nsx" "$@"
}

bg_add() { BG_PIDS="$BG_PIDS $1"; }

traffic_cleanup() {
	[ -n "${HTTPSD_PID:-}" ] && BG_PIDS="$BG_PIDS $HTTPSD_PID"
	for p in $BG_PIDS; do kill "$p" 2>/dev/null; done
	# and whatever else still runs in our namespaces (their pids, nothing by name)
	for n in "$ORIGIN" "$CIN" "$COUT" "$CTR"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null; done
	done
	# a process that does not end on SIGTERM within 5 s gets SIGKILL: cleanup never hangs
	_i=0
	while [ $_i -lt 50 ]; do
		_alive=
		for p in $BG_PIDS; do kill -0 "$p" 2>/dev/null && _alive=1; done
		for n in "$ORIGIN" "$CIN" "$COUT" "$CTR"; do
			[ -n "$(ip netns pids "$n" 2>/dev/null)" ] && _alive=1
		done
		[ -z "$_alive" ] && break
		sleep 0.1
		_i=$((_i + 1))
	done
	for p in $BG_PIDS; do kill -9 "$p" 2>/dev/null; done
	for n in "$ORIGIN" "$CIN" "$COUT" "$CTR"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	done
	for p in $BG_PIDS; do wait "$p" 2>/dev/null; done
	for n in "$ORIGIN" "$CIN" "$COUT" "$CTR"; do
		ip netns del "$n" 2>/dev/null
	done
	rm -rf "$WORK"
}

cleanup() { traffic_cleanup; }

veth() { # NS1 IF1 NS2 IF2
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" &&
		ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

# traffic_topology [with_ctr]
traffic_topology() {
	nss="$ORIGIN $CIN $COUT"
	[ "${1:-}" = with_ctr ] && nss="$nss $CTR"
	for _n in $nss; do
		ip netns add "$_n" || prereq_missing "ip netns add"
		ip -n "$_n" link set lo up
	done
	veth "$ORIGIN" v-in "$CIN" eth0 || prereq_missing "veth pairs"
	veth "$ORIGIN" v-out "$COUT" eth0
	ip -n "$ORIGIN" addr add 104.16.0.1/24 dev v-in
	ip -n "$ORIGIN" addr add 2400:cb00::1/64 dev v-in nodad
	ip -n "$CIN" addr add 104.16.0.10/24 dev eth0
	ip -n "$CIN" addr add 2400:cb00::10/64 dev eth0 nodad
	ip -n "$ORIGIN" addr add 45.0.0.1/24 dev v-out
	ip -n "$ORIGIN" addr add 2a01:4f8::1/64 dev v-out nodad
	ip -n "$COUT" addr add 45.0.0.10/24 dev eth0
	ip -n "$COUT" addr add 2a01:4f8::10/64 dev eth0 nodad
	if [ "${1:-}" = with_ctr ]; then
		veth "$ORIGIN" v-ctr "$CTR" eth0
		ip -n "$ORIGIN" addr add 172.30.0.1/24 dev v-ctr
		ip -n "$CTR" addr add 172.30.0.2/24 dev eth0
		ip -n "$CTR" route add default via 172.30.0.1
		nsx "$ORIGIN" sysctl -qw net.ipv4.ip_forward=1
		# what `docker run -p 8443:443` amounts to, in a table of the admin's
		nsx "$ORIGIN" nft -f - <<'NFT'
table ip nat {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		tcp dport 8443 dnat to 172.30.0.2:443
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 172.30.0.0/24 oifname "v-out" masquerade
	}
}
NFT
	fi
}

# serve NS PORT [BIND]: a plain HTTP server (any TCP service will do) in namespace NS
serve() {
	mkdir -p "$WORK/www"
	echo hello >"$WORK/www/index.html"
	# not through nsx: $! must be the server itself (ip netns exec execs it)
	ip netns exec "$1" python3 -m http.server "$2" --bind "${3:-::}" --directory "$WORK/www" \
		>/dev/null 2>&1 </dev/null &
	bg_add $!
}

# wait_port NS HOST PORT: until the service answers (max ~5 s)
wait_port() {
	_i=0
	while [ $_i -lt 100 ]; do
		nsx "$1" python3 "$PROBE" once "$2" "$3" 1 >/dev/null 2>&1 && return 0
		sleep 0.05
		_i=$((_i + 1))
	done
	return 1
}

# reach NS HOST PORT / noreach NS HOST PORT (a drop shows as a timeout)
reach() { nsx "$1" python3 "$PROBE" once "$2" "$3" 2; }
noreach() { ! nsx "$1" python3 "$PROBE" once "$2" "$3" 1.5; }

# https_start_in NS DOCROOT: lib.sh's https_start, but inside namespace NS
https_start_in() {
	mkdir -p "$WORK/ca"
	python3 "$HTTPSD" --mkca "$WORK/ca" >/dev/null || prereq_missing "openssl/python3 for the CA"
	CA="$WORK/ca/ca.pem"
	REQLOG="$WORK/requests.log"
	: >"$REQLOG"
	ip netns exec "$1" python3 "$HTTPSD" --dir "$2" --port-file "$WORK/port" \
		--cert "$WORK/ca/server.pem" --key "$WORK/ca/server.key" --log "$REQLOG" \
		>"$WORK/httpsd.log" 2>&1 </dev/null &
	HTTPSD_PID=$!
	_i=0
	while [ ! -s "$WORK/port" ] && [ $_i -lt 100 ]; do sleep 0.05; _i=$((_i + 1)); done
	[ -s "$WORK/port" ] || prereq_missing "the test HTTPS server did not start"
	PORT=$(cat "$WORK/port")
	BASE="https://127.0.0.1:$PORT"
}

# probe_start NAME NS TARGET...: continuous connections until probe_stop NAME
probe_start() {
	_pn=$1
	_pns=$2
	shift 2
	rm -f "$WORK/$_pn.stop" "$WORK/$_pn.out"
	ip netns exec "$_pns" python3 "$PROBE" loop "$WORK/$_pn.stop" "$WORK/$_pn.out" "$@" \
		>/dev/null 2>&1 </dev/null &
	bg_add $!
}

# probe_stop NAME: prints "ok=N refused=N timeout=N error=N" (+ '#' lines of failures)
probe_stop() {
	touch "$WORK/$1.stop"
	_i=0
	while [ ! -s "$WORK/$1.out" ] && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
	cat "$WORK/$1.out"
}

count_of() { # KEY COUNTS-LINE
	echo "$2" | head -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}
