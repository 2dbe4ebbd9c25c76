#!/bin/sh
# SPDX-License-Identifier: MIT
# Several providers feed one nftables target, served from the local HTTPS server: the set
# holds exactly their union; when one provider changes, only its delta is applied and the
# diff names that provider. Real published lists from tests/data.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"

DOC="$WORK/doc"
mkdir -p "$DOC/bunny"
cf_publish "$DOC" "$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
cp "$DATA/fastly/cloud-ip-ranges-crawler_2025-10-30_57cc637/fastly_0.raw" "$DOC/fastly.json"
B1="$DATA/bunny/cloud-ips_2026-06-30_a2a761f3"
B2="$DATA/bunny/cloud-ips_2026-08-21_847261c2"
cp "$B1/edgeserverlist.json" "$DOC/bunny/v4.json"
cp "$B1/edgeserverlist-IPv6.json" "$DOC/bunny/v6.json"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
cat >"$CONF" <<EOF2
[cdnallow]
state_dir = $WORK/state
[source.cloudflare]
provider = cloudflare
url = $BASE/ips-v4 $BASE/ips-v6
ca_file = $CA
[source.fastly]
provider = fastly
url = $BASE/fastly.json
ca_file = $CA
[source.bunny]
provider = bunny
url = $BASE/bunny/v4.json $BASE/bunny/v6.json
ca_file = $CA
[target.edge]
backend = nftables
sources = cloudflare fastly bunny
; Bunny churns daily: the real change between the two copies removes 13% of the IPv4
; entries, which the default 10% would refuse (tested below)
max_shrink = 20%
EOF2
chmod 600 "$CONF"
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; return 1; }; }

# what the union must be, computed independently with Python's ipaddress
union() {
	python3 - "$@" <<'PY'
import ipaddress, json, sys
nets = []
for path in sys.argv[1:]:
    text = open(path).read()
    if text.lstrip().startswith(("{", "[")):
        doc = json.loads(text)
        items = doc if isinstance(doc, list) else doc.get("addresses", []) + doc.get("ipv6_addresses", [])
    else:
        items = text.split()
    nets += [ipaddress.ip_network(i) for i in items]
for fam in (4, 6):
    for n in ipaddress.collapse_addresses(x for x in nets if x.version == fam):
        print(n)
PY
}

run sync --json
check "three-provider sync exits 0" expect_rc 0
union "$DOC/ips-v4" "$DOC/ips-v6" "$DOC/fastly.json" "$DOC/bunny/v4.json" "$DOC/bunny/v6.json" |
	sort >"$WORK/exp"
"$CDNALLOW" -c "$CONF" show | sed -n 's/^  //p' | sort >"$WORK/got"
check "the set holds exactly the union of the three lists" diff "$WORK/exp" "$WORK/got"
check "the JSON names all three sources ok" sh -c \
	"grep -q '\"name\":\"cloudflare\",\"provider\":\"cloudflare\",\"status\":\"ok\"' '$WORK/out' &&
	 grep -q '\"name\":\"fastly\",\"provider\":\"fastly\",\"status\":\"ok\"' '$WORK/out' &&
	 grep -q '\"name\":\"bunny\",\"provider\":\"bunny\",\"status\":\"ok\"' '$WORK/out'"

# Bunny publishes a new list (real change between two dated copies)
cp "$B2/edgeserverlist.json" "$DOC/bunny/v4.json"
cp "$B2/edgeserverlist-IPv6.json" "$DOC/bunny/v6.json"
: >"$REQLOG"
nft list set inet cdnallow allow_v4 >"$WORK/before4"
sed 's/^max_shrink = 20%/max_shrink = 10%/' "$CONF" >"$WORK/strict.conf"
chmod 600 "$WORK/strict.conf"
"$CDNALLOW" -c "$WORK/strict.conf" sync >/dev/null 2>"$WORK/err"
echo $? >"$WORK/rc"
check "with the default 10% the real Bunny churn is refused (exit 3)" expect_rc 3
check "... naming the figures" grep -q "refusing to remove 68 of 511 IPv4 entries" "$WORK/err"
: >"$REQLOG"
run sync --json
check "sync after Bunny's change exits 0" expect_rc 0
check "Cloudflare and Fastly answered 304 (not re-applied)" sh -c \
	"[ \$(grep -c ' 304 ' '$REQLOG') = 3 ]"
check "Bunny's lists were fetched anew (its validators stay unsaved after the refusal)" \
	sh -c "[ \$(grep -c '^GET /bunny/.* 200 ' '$REQLOG') = 2 ]"
python3 - "$WORK/out" "$B1" "$B2" >"$WORK/attr" <<'PY'
import ipaddress, json, sys
doc = json.load(open(sys.argv[1]))
t = doc["targets"][0]
by = t["sources_of"]
# every added and removed prefix is attributed, and only to bunny
bad = [c for c in t["added"] if by["added"].get(c) != "bunny"]
bad += [c for c in t["removed"] if by["removed"].get(c) != "bunny"]
def load(d):
    nets = []
    for f in ("edgeserverlist.json", "edgeserverlist-IPv6.json"):
        nets += [ipaddress.ip_network(a) for a in json.load(open(d + "/" + f))]
    return nets
old, new = load(sys.argv[2]), load(sys.argv[3])
gone = {n for n in old} - {n for n in new}
came = {n for n in new} - {n for n in old}
print("added=%d removed=%d bunny_came=%d bunny_gone=%d unattributed=%d" %
      (len(t["added"]), len(t["removed"]), len(came), len(gone), len(bad)))
sys.exit(1 if bad or not t["added"] or not t["removed"] else 0)
PY
check "every added and removed prefix is Bunny's ($(cat "$WORK/attr"))" test -s "$WORK/attr" -a "$(grep -c 'unattributed=0' "$WORK/attr")" = 1
union "$DOC/ips-v4" "$DOC/ips-v6" "$DOC/fastly.json" "$DOC/bunny/v4.json" "$DOC/bunny/v6.json" |
	sort >"$WORK/exp"
"$CDNALLOW" -c "$CONF" show | sed -n 's/^  //p' | sort >"$WORK/got"
check "the set holds exactly the new union" diff "$WORK/exp" "$WORK/got"
check "Cloudflare's and Fastly's ranges stayed in" sh -c \
	"grep -q '^104.16.0.0/13' '$WORK/got' && grep -q '^151.101.0.0/16' '$WORK/got'"

# AWS: the syncToken is recorded with the list; a token going backwards (a stale mirror
# serving the 2021 file after the 2026 one) is applied only with --force, and logged
cp "$DATA/aws/vendor-ip-ranges-history_2026-08-22_adcc618d/aws.json" "$DOC/aws.json"
cat >"$WORK/aws.conf" <<EOF2
[cdnallow]
state_dir = $WORK/state-aws
[source.aws]
provider = aws-cloudfront
url = $BASE/aws.json
ca_file = $CA
[target.cf]
backend = nftables
sources = aws
table = aws
EOF2
chmod 600 "$WORK/aws.conf"
"$CDNALLOW" -c "$WORK/aws.conf" sync --json >"$WORK/out" 2>"$WORK/err"
echo $? >"$WORK/rc"
check "AWS CloudFront origin-facing sync exits 0" expect_rc 0
check "the JSON carries AWS's syncToken" grep -q '"token":"1787416625"' "$WORK/out"
cp "$DATA/aws/vendor-ip-ranges-history_2021-12-19_ec86d728/aws.json" "$DOC/aws.json"
"$CDNALLOW" -c "$WORK/aws.conf" sync --force >"$WORK/out" 2>"$WORK/err"
echo $? >"$WORK/rc"
check "an older AWS list applies with --force" expect_rc 0
check "the token going backwards is logged" grep -q "token 1787416625 -> .*went backwards" "$WORK/err"
finish
