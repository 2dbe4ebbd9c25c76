#!/bin/sh
# SPDX-License-Identifier: MIT
# Issue 15, fleet: cdnallow publish signs a snapshot that the Debian minisign verifies; a
# consumer (provider = snapshot, nftables in a private namespace) takes it from an HTTPS
# mirror, takes one signed by the real minisign, and refuses a flipped byte in the snapshot,
# the signature or the trusted comment, a rollback, a stale snapshot, an unknown key, an
# HTML pointer and a source the snapshot lacks, each with its cause and its set unchanged;
# two keys during a rotation; a mirror answering 429 with Retry-After is passed over; a
# password-protected minisign -G key signs through publish_password_file; --splay bounds.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
command -v minisign >/dev/null || prereq_missing "minisign (Debian package minisign)"

LISTS="$WORK/lists"
DOC="$WORK/doc"
OUT="$DOC/fleet"
mkdir -p "$LISTS" "$DOC/m429"
printf '104.16.0.0/13\n104.24.0.0/14\n' >"$LISTS/cf4"
printf '2400:cb00::/32\n' >"$LISTS/cf6"
printf '151.101.0.0/16\n' >"$LISTS/fa4"
printf '2a04:4e40::/32\n' >"$LISTS/fa6"
https_start "$DOC"

run() { "$CDNALLOW" -c "$1" "$2" ${3:+"$3"} >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() {
	[ "$(cat "$WORK/rc")" = "$1" ] ||
		{ cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }
}
latest() { sed -n 's/^snapshot-\([0-9]*\)\.txt$/\1/p' "$OUT/latest"; }
set_now() { { nft_elems inet cdnallow allow_v4; nft_elems inet cdnallow allow_v6; } >"$1"; }

# the publisher: its own sources from local files, a null target, its key from keygen
PCONF="$WORK/publisher.conf"
cat >"$PCONF" <<EOF
[cdnallow]
state_dir = $WORK/pstate
publish_key = $WORK/pub.key
publisher = pub-1
publish_plain = yes
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
"$CDNALLOW" keygen "$WORK/pub.key" >"$WORK/pk1" 2>"$WORK/err"
check "keygen writes a secret key (0600) and a public key" sh -c \
	"[ \$(stat -c %a '$WORK/pub.key') = 600 ] && [ -s '$WORK/pub.pub' ] && [ -s '$WORK/pk1' ]"
"$CDNALLOW" keygen "$WORK/pub.key" >/dev/null 2>&1
check "keygen never overwrites a key (exit 73)" test $? = 73
PK1=$(cat "$WORK/pk1")

run "$PCONF" publish "$OUT"
check "publish exits 0" expect_rc 0
S1=$(latest)
check "the pointer names the versioned snapshot" test -s "$OUT/snapshot-$S1.txt"
check "the Debian minisign verifies cdnallow's signature" \
	minisign -Vq -p "$WORK/pub.pub" -m "$OUT/snapshot-$S1.txt"
check "the trusted comment carries serial and publisher" sh -c \
	"minisign -V -p '$WORK/pub.pub' -m '$OUT/snapshot-$S1.txt' | grep -q 'serial:$S1.*publisher:pub-1'"
check "plain lists beside it" sh -c "grep -qx 104.16.0.0/13 '$OUT/cf-v4.txt' &&
	grep -qx 2a04:4e40::/32 '$OUT/all-v6.txt' && ! grep -q : '$OUT/all-v4.txt'"

# a real-minisign key, unencrypted (-W), for the rotation and the hand-signed snapshots
minisign -G -W -p "$WORK/mk.pub" -s "$WORK/mk.key" >/dev/null 2>&1 ||
	prereq_missing "minisign -G -W"
PK2=$(sed -n 2p "$WORK/mk.pub")

CCONF="$WORK/consumer.conf"
consumer() { # consumer KEYS [SOURCES] [URLS] [MAX_AGE]
	cat >"$CCONF" <<EOF
[cdnallow]
state_dir = $WORK/cstate
max_shrink = 100%
[source.fleet]
provider = snapshot
url = ${3:-$BASE/fleet/latest}
ca_file = $CA
timeout = 5
public_key = $1
sources = ${2:-cf}
max_age = ${4:-7d}
[target.edge]
backend = nftables
sources = fleet
EOF
	chmod 600 "$CCONF"
}
consumer "$PK1"
run "$CCONF" sync
check "the consumer takes the snapshot (exit 0)" expect_rc 0
set_now "$WORK/set1"
printf '104.16.0.0-104.27.255.255\n2400:cb00::/32\n' >"$WORK/exp1"
check "its sets hold the chosen source exactly" diff "$WORK/exp1" "$WORK/set1"
run "$CCONF" sync
check "a second run: the pointer 304, exit 0" expect_rc 0
check "the second run sent a conditional request" sh -c "grep -q 'latest 304' '$REQLOG'"

# refused: each leaves the set as it was, exits 75 and says why
refused() { # refused DESCRIPTION PATTERN
	run "$CCONF" sync
	set_now "$WORK/setx"
	if [ "$(cat "$WORK/rc")" = 75 ] && grep -q "$2" "$WORK/err" &&
		grep -q "last known good" "$WORK/err" && cmp -s "$WORK/set1" "$WORK/setx"; then
		ok "$1"
	else
		not_ok "$1" "rc $(cat "$WORK/rc")" "$(cat "$WORK/err")"
	fi
}
printf '104.16.0.0/12\n' >"$LISTS/cf4"
run "$PCONF" publish "$OUT"
S2=$(latest)
F="$OUT/snapshot-$S2.txt"
cp "$F" "$WORK/good.txt"
cp "$F.minisig" "$WORK/good.sig"
sed -i 's#104.16.0.0/12#104.16.0.0/13#' "$F"
refused "a flipped byte in the snapshot is refused" "bad signature: the snapshot"
cp "$WORK/good.txt" "$F"
awk 'NR == 2 { c = substr($0, 20, 1); $0 = substr($0, 1, 19) (c == "A" ? "B" : "A") \
	substr($0, 21) } { print }' "$WORK/good.sig" >"$F.minisig"
refused "a flipped byte in the signature is refused" "bad signature"
sed 's/publisher:pub-1/publisher:pub-2/' "$WORK/good.sig" >"$F.minisig"
refused "a changed trusted comment is refused" "trusted comment does not match"
cp "$WORK/good.sig" "$F.minisig"
printf '<html>maintenance</html>\n' >"$OUT/latest.new"
cp "$OUT/latest" "$WORK/latest.good"
mv "$OUT/latest.new" "$OUT/latest"
refused "an HTML page for a pointer is refused" "does not name a snapshot"
cp "$WORK/latest.good" "$OUT/latest"
consumer "$PK1" "cf nosuch"
refused "a source the snapshot lacks is refused" "nosuch is not in the snapshot"
consumer "$PK2"
refused "a snapshot signed by an unknown key is refused" "unknown key"

# rotation: both keys; the new snapshot (cdnallow's key) goes in
consumer "$PK1 $PK2"
run "$CCONF" sync
check "with two keys the cdnallow-signed snapshot is taken" expect_rc 0
set_now "$WORK/set1"
check "the set follows the publisher" grep -qx '104.16.0.0/12' "$WORK/set1"

# rollback: the mirror serves the older, validly signed snapshot again
echo "snapshot-$S1.txt" >"$OUT/latest"
refused "a rollback to an older serial is refused" "rollback refused"

# a snapshot signed by the real minisign -S (the rotation's second key) is taken
S3=$((S2 + 100))
NOW=$(date +%s)
sed -e "s/^serial .*/serial $S3/" -e "s/^time .*/time $NOW/" -e 's#104.16.0.0/12#104.16.0.0/13#' \
	"$WORK/good.txt" >"$OUT/snapshot-$S3.txt"
minisign -S -s "$WORK/mk.key" -m "$OUT/snapshot-$S3.txt" \
	-t "timestamp:$NOW	file:snapshot-$S3.txt	serial:$S3" >/dev/null 2>&1
echo "snapshot-$S3.txt" >"$OUT/latest"
run "$CCONF" sync
check "a snapshot signed by minisign -S is taken" expect_rc 0
set_now "$WORK/set1"
check "its lists are applied" grep -qx '104.16.0.0/13' "$WORK/set1"

# stale: validly signed, newer serial, published 8 days ago
S4=$((S3 + 1))
OLD=$((NOW - 8 * 86400))
sed -e "s/^serial .*/serial $S4/" -e "s/^time .*/time $OLD/" \
	"$OUT/snapshot-$S3.txt" >"$OUT/snapshot-$S4.txt"
minisign -S -s "$WORK/mk.key" -m "$OUT/snapshot-$S4.txt" -t "serial:$S4" >/dev/null 2>&1
echo "snapshot-$S4.txt" >"$OUT/latest"
refused "a snapshot older than max_age is refused" "stale snapshot"

# a frozen mirror: the pointer answers 304 for the snapshot taken, which has grown older
# than max_age (its publication time as the consumer's state keeps it, moved back 8 days)
echo "snapshot-$S3.txt" >"$OUT/latest"
run "$CCONF" sync
check "the same serial again is taken" expect_rc 0
sed -i "s/^token $S3@.*/token $S3@$OLD/" "$WORK/cstate/sources/fleet" 2>/dev/null ||
	sed -i "s/^token $S3@.*/token $S3@$OLD/" "$(grep -l "^token $S3@" -r "$WORK/cstate")"
: >"$REQLOG"
refused "a 304 for a snapshot older than max_age is refused (freeze)" "stale snapshot"
check "that run was answered 304" grep -q 'latest 304' "$REQLOG"

# a mirror answering 429 with Retry-After: the next mirror is used, the 429 reported
consumer "$PK1 $PK2" cf "$BASE/m429/latest $BASE/fleet/latest"
echo "status 429 120" >"$DOC/m429/latest.fault"
run "$CCONF" sync
check "with the first mirror at 429 the run still succeeds" expect_rc 0
check "the 429 and its Retry-After are reported" grep -q "429 (retry after 120 s)" "$WORK/err"
check "the 429 mirror was asked once" test "$(grep -c '/m429/latest 429' "$REQLOG")" = 1
# a password-protected key from the real minisign -G (scrypt) signs through
# publish_password_file; the wrong password is refused
printf 'fleet pw\nfleet pw\n' | minisign -G -p "$WORK/enc.pub" -s "$WORK/enc.key" >/dev/null 2>&1 ||
	prereq_missing "minisign -G reading its password from stdin"
printf 'fleet pw\n' >"$WORK/enc.pw"
sed "s#^publish_key = .*#publish_key = $WORK/enc.key\npublish_password_file = $WORK/enc.pw#" \
	"$PCONF" >"$WORK/penc.conf"
chmod 600 "$WORK/penc.conf"
run "$WORK/penc.conf" publish "$WORK/encout"
check "publish signs with an encrypted minisign -G key (publish_password_file)" expect_rc 0
check "the Debian minisign verifies that signature" sh -c \
	"minisign -Vq -p '$WORK/enc.pub' -m '$WORK/encout/'\$(cat '$WORK/encout/latest')"
printf 'not the password\n' >"$WORK/enc.pw"
run "$WORK/penc.conf" publish "$WORK/encout"
check "a wrong password is refused (exit 78, saying so)" sh -c \
	"[ \$(cat '$WORK/rc') = 78 ] && grep -q 'wrong password' '$WORK/err'"

# --splay: a random wait of at most N s before fetch, sync and publish, said with -v
"$CDNALLOW" -c "$PCONF" -v --splay 1 fetch >"$WORK/out" 2>"$WORK/err"
check "--splay 1 waits 0 or 1 s before a fetch and says so" \
	grep -Eq "splay: waiting [01] s of at most 1" "$WORK/err"
"$CDNALLOW" -c "$PCONF" --splay 86401 fetch >/dev/null 2>&1
check "--splay over a day is a usage error (64)" test $? = 64
"$CDNALLOW" -c "$PCONF" --splay 5 check >/dev/null 2>&1
check "--splay with check, which does not wait, is a usage error (64)" test $? = 64
# plain lists: a source named "all" would overwrite the union's files: refused
sed 's/^\[source.fastly\]/[source.all]/; s/^sources = cf fastly/sources = cf all/' "$PCONF" \
	>"$WORK/pall.conf"
chmod 600 "$WORK/pall.conf"
run "$WORK/pall.conf" publish "$WORK/allout"
check "publish_plain with a source named all is refused (78), nothing written" sh -c \
	"[ \$(cat '$WORK/rc') = 78 ] && grep -q \"named 'all'\" '$WORK/err' && [ ! -e '$WORK/allout' ]"
finish
