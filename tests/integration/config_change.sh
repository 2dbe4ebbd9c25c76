#!/bin/sh
# SPDX-License-Identifier: MIT
# A change of what a source selects is never answered by a 304: the cached list was
# fetched under another configuration, so the next request carries no validators and the
# new selection is applied; that list may still stand in when the fetch fails. On the real
# kernel in a private network namespace, with the real AWS ip-ranges.json.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"

DOC="$WORK/doc"
mkdir -p "$DOC"
cp "$DATA/aws/vendor-ip-ranges-history_2026-08-22_adcc618d/aws.json" "$DOC/aws.json"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }; }
has() { grep -q -e "$1" "$2" || { echo "no '$1' in:"; cat "$2"; return 1; }; }
elems() { nft_elems inet cdnallow "$1"; }
# aws_config SERVICES
aws_config() {
	cat >"$CONF" <<EOF
[cdnallow]
state_dir = $WORK/state
[source.aws]
provider = aws-cloudfront
url = $BASE/aws.json
ca_file = $CA
services = $1
[target.edge]
backend = nftables
sources = aws
EOF
	chmod 600 "$CONF"
}

# 1. services = A, then the same again: the second request is conditional, a 304
aws_config CLOUDFRONT_ORIGIN_FACING
run sync
check "services = CLOUDFRONT_ORIGIN_FACING syncs" expect_rc 0
elems allow_v4 >"$WORK/a4"
check "... into the set" sh -c "[ \$(wc -l <'$WORK/a4') -ge 20 ]"
: >"$REQLOG"
run sync
check "the same configuration again: a conditional request" has "aws.json 304 inm=" "$REQLOG"

# 2. services = A B: no validators sent, the list changes
aws_config "CLOUDFRONT_ORIGIN_FACING ROUTE53_HEALTHCHECKS"
: >"$REQLOG"
run sync
check "services changed: sync exits 0" expect_rc 0
check "... the request carried no If-None-Match (no 304)" sh -c \
	"grep -q 'aws.json 200 inm=-' '$REQLOG' && ! grep -q ' 304 ' '$REQLOG'"
check "... a note says why" has "configuration changed since the cached list was fetched" "$WORK/err"
elems allow_v4 >"$WORK/b4"
check "... and the set holds the new selection" sh -c "! cmp -s '$WORK/a4' '$WORK/b4'"
check "... ROUTE53_HEALTHCHECKS's 15.177.0.0/18 among it" grep -q '^15\.177\.' "$WORK/b4"
: >"$REQLOG"
run sync --detailed-exitcode
check "the next run is conditional again (304)" has "aws.json 304 inm=" "$REQLOG"
check "... and changes nothing" expect_rc 0

# 3. the words are a set: another order is the same configuration
aws_config "ROUTE53_HEALTHCHECKS, CLOUDFRONT_ORIGIN_FACING"
: >"$REQLOG"
run sync
check "the same services in another order: still a 304" has "aws.json 304 inm=" "$REQLOG"

# 4. changed again while the server fails: the last good list stands in (75), as it was
aws_config "CLOUDFRONT_ORIGIN_FACING ROUTE53"
echo "status 500" >"$DOC/aws.json.fault"
: >"$REQLOG"
run sync
check "services changed, server failing: falls back (75)" expect_rc 75
check "... after an unconditional request" has "aws.json 500 inm=-" "$REQLOG"
elems allow_v4 >"$WORK/c4"
check "... which is the previous selection, unchanged" cmp "$WORK/b4" "$WORK/c4"
rm -f "$DOC/aws.json.fault"
run sync --force # ROUTE53's ranges merge with some held: more than max_shrink "removed"
check "once the server answers, the new selection applies" expect_rc 0
elems allow_v4 >"$WORK/d4"
check "... ROUTE53's prefixes among it" sh -c "! cmp -s '$WORK/b4' '$WORK/d4'"

# 5. a change of url alone (same count of URLs) is a new configuration too
mkdir -p "$DOC/mirror"
cp "$DOC/aws.json" "$DOC/mirror/aws.json"
sed -i "s#^url = .*#url = $BASE/mirror/aws.json#" "$CONF"
: >"$REQLOG"
run sync
check "url changed: no validators sent to the new URL" has "mirror/aws.json 200 inm=-" "$REQLOG"
finish
