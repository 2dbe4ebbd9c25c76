#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 15, a fleet for real: a real nginx (Debian nginx-light) serves the mirror over HTTPS
# in this test's network namespace; one publisher (cdnallow publish, in the same namespace)
# and CONSUMERS (default 20) consumer namespaces, each with its own kernel nftables, joined
# to the mirror by a bridge. Every consumer converges to the publisher's lists (time
# printed); each fault served by nginx (rollback, stale snapshot, unknown key, truncated
# snapshot, HTML page, empty pointer) is refused by every consumer with its cause and its
# set unchanged (refusals per fault printed); while the publisher publishes again and again,
# consumers syncing in a loop never see a mixed snapshot/signature pair and always hold
# one published version. Namespaces are cda-<pid>-fc<N>, deleted on exit.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
command -v nginx >/dev/null || prereq_missing "nginx (Debian package nginx-light)"
command -v minisign >/dev/null || prereq_missing "minisign (Debian package minisign)"
command -v ip >/dev/null || prereq_missing "iproute2 (ip)"
N=${CONSUMERS:-20}
NSP="cda-$$-fc"
MIRROR=10.88.0.1
PORT=8443

fleet_cleanup() {
	[ -s "$WORK/nginx/nginx.pid" ] && kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null
	i=1
	while [ $i -le "$N" ]; do
		for p in $(ip netns pids "$NSP$i" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
		ip netns del "$NSP$i" 2>/dev/null
		i=$((i + 1))
	done
	sleep 0.2
	cleanup
}
trap fleet_cleanup EXIT INT TERM
[ "${KEEP_WORK:-}" = 1 ] && trap - EXIT
chmod 0755 "$WORK" # nginx's workers run as nobody

# --- the mirror: a bridge, a certificate for its address, nginx ---
ip link add fbr type bridge && ip addr add "$MIRROR/24" dev fbr && ip link set fbr up ||
	prereq_missing "a bridge in the test namespace"
mkdir -p "$WORK/ca"
python3 "$CDNALLOW_SRC/tests/integration/httpsd.py" --mkca "$WORK/ca" ||
	prereq_missing "openssl/python3 for the CA"
CA="$WORK/ca/ca.pem"
(
	cd "$WORK/ca" &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mirror.key \
			-out mirror.csr -subj /CN=mirror &&
		printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$MIRROR" >mirror.ext &&
		openssl x509 -req -in mirror.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
			-out mirror.pem -days 2 -extfile mirror.ext
) >/dev/null 2>&1 || prereq_missing "openssl to issue the mirror's certificate"
chmod 0644 "$WORK/ca/mirror.key"
DOC="$WORK/www"
OUT="$DOC/fleet"
mkdir -p "$WORK/nginx/tmp" "$OUT"
chmod 0755 "$DOC" "$OUT"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 256; }
http {
	access_log $WORK/nginx/access.log;
	client_body_temp_path $WORK/nginx/tmp/body;
	proxy_temp_path $WORK/nginx/tmp/proxy;
	fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
	uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
	scgi_temp_path $WORK/nginx/tmp/scgi;
	default_type text/plain;
	server {
		listen $MIRROR:$PORT ssl;
		ssl_certificate $WORK/ca/mirror.pem;
		ssl_certificate_key $WORK/ca/mirror.key;
		root $DOC;
	}
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" \
	>"$WORK/nginx/start.out" 2>&1 || {
	cat "$WORK/nginx/start.out"
	prereq_missing "nginx starting with a scratch configuration"
}
URL="https://$MIRROR:$PORT/fleet/latest"

# --- the consumers: a namespace each, on the bridge ---
t0=$(date +%s%N)
i=1
while [ $i -le "$N" ]; do
	ns="$NSP$i"
	ip netns add "$ns" &&
		ip link add "fv$i" type veth peer name eth0 netns "$ns" &&
		ip link set "fv$i" master fbr up &&
		ip -n "$ns" addr add "10.88.0.$((10 + i))/24" dev eth0 &&
		ip -n "$ns" link set eth0 up && ip -n "$ns" link set lo up ||
		prereq_missing "consumer namespace $ns"
	i=$((i + 1))
done
echo "# $N consumer namespaces in $((($(date +%s%N) - t0) / 1000000)) ms"

# --- the publisher: two local lists, a null target, cdnallow's key; minisign's second key ---
LISTS="$WORK/lists"
mkdir -p "$LISTS"
printf '104.16.0.0/13\n104.24.0.0/14\n' >"$LISTS/cf4"
printf '2400:cb00::/32\n' >"$LISTS/cf6"
printf '151.101.0.0/16\n' >"$LISTS/fa4"
printf '2a04:4e40::/32\n' >"$LISTS/fa6"
PCONF="$WORK/publisher.conf"
cat >"$PCONF" <<EOF
[cdnallow]
state_dir = $WORK/pstate
publish_key = $WORK/pub.key
publisher = lists-1
publish_plain = yes
publish_keep = 50
[source.cf]
provider = text
url = file://$LISTS/cf4 file://$LISTS/cf6
[source.fastly]
provider = text
url = file://$LISTS/fa4 file://$LISTS/fa6
[target.none]
backend = null
sources = cf fastly
EOF
chmod 600 "$PCONF"
PK1=$("$CDNALLOW" keygen "$WORK/pub.key" 2>"$WORK/err")
minisign -G -W -p "$WORK/mk.pub" -s "$WORK/mk.key" >/dev/null 2>&1 ||
	prereq_missing "minisign -G -W"
PK2=$(sed -n 2p "$WORK/mk.pub")
minisign -G -W -p "$WORK/other.pub" -s "$WORK/other.key" >/dev/null 2>&1
# publish: one publish, then the pointer's mtime set to a second of its own (nginx's ETag and
# Last-Modified are the mtime in seconds and the size: two same-length pointers written in
# one second look alike, and a consumer would be answered 304 for the newer one)
PUBN=0
publish() {
	"$CDNALLOW" -c "$PCONF" -q publish "$OUT" >"$WORK/pub.out" 2>&1 || return 1
	PUBN=$((PUBN + 1))
	touch -d "@$((1000000000 + PUBN))" "$OUT/latest"
}
latest() { sed -n 's/^snapshot-\([0-9]*\)\.txt$/\1/p' "$OUT/latest"; }
publish
check "the publisher publishes into nginx's root" sh -c "[ -n \"\$(sed -n 1p '$OUT/latest')\" ]"
chmod -R a+rX "$DOC"
check "nginx serves the pointer over HTTPS (the test CA)" python3 -c "
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
assert urllib.request.urlopen(sys.argv[2], context=ctx, timeout=5).read().startswith(b'snapshot-')
" "$CA" "$URL"

i=1
while [ $i -le "$N" ]; do
	mkdir -p "$WORK/c$i"
	cat >"$WORK/c$i/c.conf" <<EOF
[cdnallow]
state_dir = $WORK/c$i/state
max_shrink = 100%
lock_timeout = 30s
[source.fleet]
provider = snapshot
url = $URL
ca_file = $CA
timeout = 10
public_key = $PK1 $PK2
sources = cf fastly
max_age = 7d
[target.edge]
backend = nftables
sources = fleet
EOF
	chmod 600 "$WORK/c$i/c.conf"
	i=$((i + 1))
done
# consume I: one sync in consumer I; its exit status, stderr, and its sets
consume() {
	ip netns exec "$NSP$1" "$CDNALLOW" -c "$WORK/c$1/c.conf" -q sync >/dev/null \
		2>"$WORK/c$1/err"
	echo $? >"$WORK/c$1/rc"
}
sets_of() {
	{
		ip netns exec "$NSP$1" nft list set inet cdnallow allow_v4 2>/dev/null
		ip netns exec "$NSP$1" nft list set inet cdnallow allow_v6 2>/dev/null
	} | tr -d '\n\t' | sed 's/}/}\n/g' | sed -n 's/.*elements = {\([^}]*\)}.*/\1/p' |
		tr -d ' ' | tr ',' '\n' | sed '/^$/d' | sort
}
all_consume() { # in parallel, every consumer once
	i=1
	while [ $i -le "$N" ]; do
		consume $i &
		i=$((i + 1))
	done
	wait
}

# 1. converge: all consumers at once
t0=$(date +%s%N)
all_consume
ms=$((($(date +%s%N) - t0) / 1000000))
bad=0
i=1
while [ $i -le "$N" ]; do
	[ "$(cat "$WORK/c$i/rc")" = 0 ] || { bad=$((bad + 1)); cat "$WORK/c$i/err"; }
	i=$((i + 1))
done
check "all $N consumers sync from the mirror (exit 0)" test $bad = 0
echo "# converge: $N consumers, first sync of all in parallel, ${ms} ms wall"
sets_of 1 >"$WORK/set.A"
check "consumer 1 holds the publisher's lists" sh -c \
	"grep -qx '104.16.0.0-104.27.255.255' '$WORK/set.A' && grep -qx '151.101.0.0/16' '$WORK/set.A' &&
	 grep -qx '2400:cb00::/32' '$WORK/set.A' && grep -qx '2a04:4e40::/32' '$WORK/set.A' &&
	 [ \$(wc -l <'$WORK/set.A') = 4 ]"
same=0
i=1
while [ $i -le "$N" ]; do
	sets_of $i | cmp -s - "$WORK/set.A" && same=$((same + 1))
	i=$((i + 1))
done
check "every consumer's sets equal consumer 1's ($same of $N)" test $same = "$N"

# the publisher changes its list; a second round converges to it
printf '104.16.0.0/12\n198.41.128.0/17\n' >"$LISTS/cf4"
publish
chmod -R a+rX "$DOC"
t0=$(date +%s%N)
all_consume
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# converge to a new snapshot: $N consumers in parallel, ${ms} ms wall"
sets_of 1 >"$WORK/set.B"
same=0
i=1
while [ $i -le "$N" ]; do
	[ "$(cat "$WORK/c$i/rc")" = 0 ] && sets_of $i | cmp -s - "$WORK/set.B" && same=$((same + 1))
	i=$((i + 1))
done
check "after a new snapshot every consumer converges to it ($same of $N)" test $same = "$N"
check "... which holds the new prefix" grep -qx '198.41.128.0/17' "$WORK/set.B"
GOOD=$(latest)
cp "$OUT/latest" "$WORK/latest.good"
cp "$OUT/snapshot-$GOOD.txt" "$WORK/good.txt"
cp "$OUT/snapshot-$GOOD.txt.minisig" "$WORK/good.sig"

# 2. faults, each served to all consumers: refused with its cause, sets unchanged
FAULTS=""
fault() { # fault NAME PATTERN: every consumer refuses (exit 75), says PATTERN, keeps set.B
	all_consume
	refused=0
	first=""
	i=1
	while [ $i -le "$N" ]; do
		if [ "$(cat "$WORK/c$i/rc")" = 75 ] && grep -q "$2" "$WORK/c$i/err" &&
			grep -q "last known good" "$WORK/c$i/err" && sets_of $i | cmp -s - "$WORK/set.B"; then
			refused=$((refused + 1))
		elif [ -z "$first" ]; then
			first="consumer $i: exit $(cat "$WORK/c$i/rc"): $(cat "$WORK/c$i/err")"
		fi
		i=$((i + 1))
	done
	echo "# fault $1: refused by $refused of $N; cause: $(grep -o "$2[^;]*" "$WORK/c1/err" | head -n 1)"
	FAULTS="$FAULTS $1=$refused/$N"
	if [ $refused = "$N" ]; then ok "$1: refused by all $N, sets unchanged"; else not_ok "$1: refused by $refused of $N" "$first"; fi
}
# point S: the pointer names snapshot S, a second after anything before (nginx's ETag is the
# file's mtime in seconds and its size: a same-length pointer written within the second of
# the last one would be answered 304)
point() {
	sleep 1
	echo "snapshot-$1.txt" >"$OUT/latest.tmp" && mv "$OUT/latest.tmp" "$OUT/latest"
	chmod -R a+rX "$DOC"
}
restore_good() {
	cp "$WORK/good.txt" "$OUT/snapshot-$GOOD.txt"
	cp "$WORK/good.sig" "$OUT/snapshot-$GOOD.txt.minisig"
	cp "$WORK/latest.good" "$OUT/latest.tmp" && mv "$OUT/latest.tmp" "$OUT/latest"
	chmod -R a+rX "$DOC"
}

# rollback: the pointer names the first, validly signed snapshot again
FIRST=$(ls "$OUT" | sed -n 's/^snapshot-\([0-9]*\)\.txt$/\1/p' | sort -n | head -n 1)
point "$FIRST"
fault rollback "rollback refused"
restore_good

# forge S TIME KEY: the good snapshot as serial S published at TIME, signed by the real
# minisign -S with WORK/KEY.key
forge() {
	sed -e "s/^serial .*/serial $1/" -e "s/^time .*/time $2/" \
		"$WORK/good.txt" >"$OUT/snapshot-$1.txt"
	minisign -S -s "$WORK/$3.key" -m "$OUT/snapshot-$1.txt" -t "serial:$1" >/dev/null 2>&1
}

# stale: a newer serial signed by the second key (minisign -S), published 8 days ago
NOW=$(date +%s)
S=$((GOOD + 10))
forge "$S" $((NOW - 8 * 86400)) mk
point "$S"
fault stale "stale snapshot"
restore_good

# unknown key: a newer, current snapshot signed by a key no consumer trusts
S=$((GOOD + 20))
forge "$S" "$NOW" other
point "$S"
fault unknown_key "unknown key"
restore_good

# truncated: a newer snapshot, signed, then cut in half on the mirror
S=$((GOOD + 30))
forge "$S" "$NOW" mk
head -c $(($(wc -c <"$OUT/snapshot-$S.txt") / 2)) "$OUT/snapshot-$S.txt" >"$WORK/cut" &&
	cp "$WORK/cut" "$OUT/snapshot-$S.txt"
point "$S"
fault truncated "bad signature"
restore_good

# an HTML page where the pointer was
printf '<!DOCTYPE html>\n<html><body>maintenance</body></html>\n' >"$OUT/latest"
fault html_page "does not name a snapshot"
restore_good

# an empty pointer
: >"$OUT/latest"
fault empty_file "does not name a snapshot"
restore_good
echo "# refusals per fault:$FAULTS"

# 3. the mirror changes while consumers fetch: the publisher alternates two lists 30 times;
# 5 consumers sync in a loop meanwhile; none sees a mixed pair; every set is one version
printf '104.16.0.0/13\n104.24.0.0/14\n' >"$LISTS/cf4.A"
printf '104.16.0.0/12\n198.41.128.0/17\n' >"$LISTS/cf4.B"
all_consume # back in step (and set.B) after the faults
M=5
rm -f "$WORK/stop"
i=1
while [ $i -le $M ]; do
	(
		n=0
		while [ ! -e "$WORK/stop" ]; do
			consume $i
			cp "$WORK/c$i/err" "$WORK/c$i/err.$n"
			echo "$(cat "$WORK/c$i/rc")" >>"$WORK/c$i/rcs"
			sets_of $i >"$WORK/c$i/set.$n"
			n=$((n + 1))
		done
	) &
	i=$((i + 1))
done
p=0
while [ $p -lt 30 ]; do
	if [ $((p % 2)) = 0 ]; then cp "$LISTS/cf4.A" "$LISTS/cf4"; else cp "$LISTS/cf4.B" "$LISTS/cf4"; fi
	publish || { cat "$WORK/pub.out"; break; }
	chmod -R a+rX "$DOC"
	p=$((p + 1))
	sleep 0.1
done
touch "$WORK/stop"
wait
runs=0
ok_runs=0
refusals=0
mixed=0
strange=0
i=1
while [ $i -le $M ]; do
	runs=$((runs + $(wc -l <"$WORK/c$i/rcs")))
	ok_runs=$((ok_runs + $(grep -cx 0 "$WORK/c$i/rcs")))
	refusals=$((refusals + $(grep -vcx 0 "$WORK/c$i/rcs")))
	mixed=$((mixed + $(cat "$WORK/c$i"/err.* | grep -c "bad signature\|trusted comment does not match")))
	for s in "$WORK/c$i"/set.*; do
		cmp -s "$s" "$WORK/set.A" || cmp -s "$s" "$WORK/set.B" || strange=$((strange + 1))
	done
	i=$((i + 1))
done
echo "# mirror changing: $p publishes, $M consumers, $runs syncs: $ok_runs exit 0 (in step with a published snapshot), $refusals refused, $mixed saw a mixed pair, $strange held another list"
check "the publisher published 30 times" test $p = 30
check "consumers synced while it did ($runs syncs, at least one each)" test "$runs" -ge $M
check "no sync saw a snapshot and a signature out of step" test $mixed = 0
check "every set after every sync was one published version" test $strange = 0
other=$(cat "$WORK"/c[1-5]/err.* | grep -v '^$' | grep -v "last known good\|not found\|404\|applied" | head -n 3)
[ -z "$other" ] || echo "# other messages: $other"
finish
