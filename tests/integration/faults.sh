#!/bin/sh
# SPDX-License-Identifier: MIT
# Fault injection (issue 4): every way a download or an apply can go wrong, on the real
# kernel inside a private network namespace. Each fetch fault runs against targets that
# already hold a good list, once with and once without a last known good list, and asserts:
# the ruleset is byte-identical afterwards, the documented exit status and JSON statuses,
# that the last known good list stood in where there is one, and that the message names
# source, URL and cause. Apply-side faults (wrong set type/flags, missing admin table, a
# batch the kernel refuses, an unwritable or full state dir) assert that the set holds the
# old or the new list, never a mix, and that the next normal run converges.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
command -v python3 >/dev/null || prereq_missing "python3"

CF="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
API="$DATA/cloudflare/api-recording_2026-10-02"
DOC="$WORK/doc"
mkdir -p "$DOC/api"
cf_publish "$DOC" "$CF"
cp "$API/ips.json" "$DOC/api/ips.json"
https_start "$DOC"
STATE="$WORK/state"

# conf FILE: a text source (cloudflare) and a JSON source (cloudflare-api), each feeding its
# own nftables target. Variables override: URL4 URL6 APIURL, CAFILE (text source only).
conf() {
	cat >"$1" <<EOF
[cdnallow]
state_dir = $STATE
lock_timeout = 20s
[source.cloudflare]
provider = cloudflare
url = ${URL4:-$BASE/ips-v4} ${URL6:-$BASE/ips-v6}
ca_file = ${CAFILE:-$CA}
timeout = 3
connect_timeout = 2
max_bytes = 64K
[source.cfapi]
provider = cloudflare-api
url = ${APIURL:-$BASE/api/ips.json}
ca_file = $CA
timeout = 3
connect_timeout = 2
max_bytes = 64K
[target.edge]
backend = nftables
sources = cloudflare
[target.api]
backend = nftables
sources = cfapi
table = cdnapi
EOF
	chmod 600 "$1"
}
CONF="$WORK/good.conf"
conf "$CONF"

# run CONF [args...]: the real binary, --json sync unless other args given
run() {
	c=$1
	shift
	[ $# -gt 0 ] || set -- --json sync
	"$CDNALLOW" -c "$c" "$@" >"$WORK/out" 2>"$WORK/err"
	echo $? >"$WORK/rc"
}
rc() { cat "$WORK/rc"; }
expect_rc() { [ "$(rc)" = "$1" ] || { echo "exit $(rc), expected $1"; cat "$WORK/err"; return 1; }; }
# jsrc NAME FIELD / jtgt NAME FIELD: a field of the named source / target
jsrc() {
	python3 - "$WORK/out" sources "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
o = [x for x in d[sys.argv[2]] if x["name"] == sys.argv[3]][0]
v = o.get(sys.argv[4])
print(v if isinstance(v, str) else json.dumps(v))
PY
}
jtgt() {
	python3 - "$WORK/out" targets "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
o = [x for x in d[sys.argv[2]] if x["name"] == sys.argv[3]][0]
v = o.get(sys.argv[4])
print(v if isinstance(v, str) else json.dumps(v))
PY
}
src_counts() { echo "$(jsrc "$1" v4) $(jsrc "$1" v6)"; }
json_err_has() { jsrc "$1" error | grep -q -e "$2" || { jsrc "$1" error; return 1; }; }
src_usable() {
	s=$(jsrc "$1" status)
	[ "$s" = ok ] || [ "$s" = not_modified ] || { echo "status $s"; return 1; }
}
is() { # EXPECTED COMMAND...: the command prints exactly EXPECTED
	e=$1
	shift
	got=$("$@" 2>&1)
	[ "$got" = "$e" ] || { echo "got '$got', expected '$e'"; cat "$WORK/err"; return 1; }
}
has() { grep -q -e "$1" "$2" || { echo "no '$1' in:"; cat "$2"; return 1; }; }
hasF() { grep -q -F -e "$1" "$2" || { echo "no '$1' in:"; cat "$2"; return 1; }; }
same_ruleset() { nft list ruleset >"$WORK/after" && diff "$WORK/good" "$WORK/after"; }

# The baseline: both targets hold the 2021 list, the state dir has its last known good lists
# and validators. Every case starts from a copy of that state dir (with or without the
# source lists) and the kernel in exactly that state.
run "$CONF"
check "baseline sync exits 0" expect_rc 0
check "baseline: text target changed" is changed jtgt edge status
check "baseline: JSON target changed" is changed jtgt api status
nft list ruleset >"$WORK/good"
cp -a "$STATE" "$WORK/state.good"
check "baseline: both last known good lists saved" \
	sh -c "ls '$STATE'/source-cloudflare* '$STATE'/source-cfapi* >/dev/null"
V4=$(grep -c . "$CF/ips-v4")
V6=$(grep -c . "$CF/ips-v6")

reset_state() { # yes|no: with or without the last known good lists
	rm -rf "$STATE"
	cp -a "$WORK/state.good" "$STATE"
	[ "$1" = yes ] || rm -f "$STATE"/source-*
}

# variant LABEL CONF LKG SOURCE TARGET URL RC-WITHOUT-LKG CAUSE
# One fault, already in place, run once with the last known good list and once without.
variant() {
	label=$1 vconf=$2 lkg=$3 src=$4 tgt=$5 url=$6 rc0=$7 cause=$8
	reset_state "$lkg"
	run "$vconf"
	check "$label: ruleset byte-identical" same_ruleset
	if [ "$lkg" = yes ]; then
		check "$label: exit 75" expect_rc 75
		check "$label: source status fallback" is fallback jsrc "$src" status
		check "$label: the last known good list stood in ($V4 + $V6)" \
			is "$V4 $V6" src_counts "$src"
		check "$label: target unchanged" is unchanged jtgt "$tgt" status
		check "$label: log says the last known good list is used" \
			hasF "using its last known good list" "$WORK/err"
	else
		check "$label: exit $rc0" expect_rc "$rc0"
		check "$label: source status failed" is failed jsrc "$src" status
		check "$label: target skipped" is skipped jtgt "$tgt" status
		check "$label: log says there is no last known good list" \
			hasF "no last known good list" "$WORK/err"
		check "$label: log says the target was left as it was" \
			hasF "target $tgt: source $src has no usable list; left as it was" "$WORK/err"
	fi
	check "$label: message names source and URL" hasF "source $src ($url)" "$WORK/err"
	check "$label: message names the cause ($cause)" has "$cause" "$WORK/err"
	check "$label: JSON error names the cause" \
		json_err_has "$src" "$cause"
	# the other source and target are not affected by this fault
	other=cfapi
	[ "$src" = cfapi ] && other=cloudflare
	check "$label: the other source is fine" src_usable $other
	sed 's/^/# /' "$WORK/err"
}

# text_fault LABEL DIRECTIVE RC-WITHOUT-LKG CAUSE: a fault file on the text source's ips-v4
# The served file gets a trailing newline (still the same list): a new ETag, so that faults
# that start from the real file (short, trickle) are not answered 304 to our validators.
text_fault() {
	echo "$2" >"$DOC/ips-v4.fault"
	{ cat "$CF/ips-v4"; echo; } >"$DOC/ips-v4"
	for lkg in yes no; do
		variant "$1 (last known good: $lkg)" "$CONF" $lkg cloudflare edge "$BASE/ips-v4" "$3" "$4"
	done
	rm -f "$DOC/ips-v4.fault"
	cf_publish "$DOC" "$CF"
}

text_fault "HTTP 500" "status 500" 75 "HTTP 500"
text_fault "HTTP 404" "status 404" 75 "HTTP 404"
text_fault "HTTP 429 with Retry-After" "status 429 120" 75 "HTTP 429 (retry after 120 s)"
text_fault "301 to http://" "redirect-http" 75 "redirect to http:// refused"
text_fault "301 to file://" "redirect file:///etc/passwd" 75 "redirect to file:// refused"
text_fault "redirect loop" "redirect-loop" 75 "too many redirects"
text_fault "stalled server" "stall" 75 "timed out after 3 s"
text_fault "trickle past the total timeout" "trickle" 75 "timed out after 3 s"
text_fault "body cut short of its Content-Length" "short" 75 "cut short"
text_fault "206 Partial Content (first 12 lines)" "partial 12" 75 "HTTP 206"
text_fault "HTML with 200" "html" 65 "HTML"
text_fault "empty 200" "empty" 65 "empty"
text_fault "body past max_bytes (64K)" "big 200000" 75 "larger than 65536 bytes"
text_fault "body past max_bytes, no Content-Length" "big 200000 nolength" 75 \
	"larger than 65536 bytes"

# configuration-level faults: a CA that did not sign the server, a closed port, a name that
# cannot resolve (a 64-character label is invalid DNS: no query is ever sent; .invalid
# never resolves; and this namespace has no route anyway)
BAD="$WORK/bad.conf"
CAFILE="$WORK/ca/untrusted.pem" conf "$BAD"
for lkg in yes no; do
	variant "untrusted certificate (last known good: $lkg)" "$BAD" $lkg cloudflare edge \
		"$BASE/ips-v4" 75 "TLS"
done
URL4="https://127.0.0.1:1/ips-v4" conf "$BAD"
for lkg in yes no; do
	variant "connection refused (last known good: $lkg)" "$BAD" $lkg cloudflare edge \
		"https://127.0.0.1:1/ips-v4" 75 "connect"
done
LABEL64=$(printf 'x%.0s' $(seq 64))
URL4="https://$LABEL64.invalid/ips-v4" conf "$BAD"
for lkg in yes no; do
	variant "unresolvable host (last known good: $lkg)" "$BAD" $lkg cloudflare edge \
		"https://$LABEL64.invalid/ips-v4" 75 "resolve"
done

# a real list served as text/html: an HTML content type means an error or challenge page
# (DESIGN.md safety rule 1), so the body is rejected whatever it holds
text_fault "real list served as text/html" "ctype text/html; charset=UTF-8" 65 \
	"served as text/html"

# JSON (Cloudflare API) payload faults: variants of the recorded answer
json_variant() { # NAME PYTHON-EXPRESSION-ON-d
	python3 - "$API/ips.json" "$2" >"$WORK/variant.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[2])
sys.stdout.write(json.dumps(d))
PY
}
json_fault() { # LABEL BODYFILE CAUSE
	cp "$2" "$DOC/api/ips.json"
	for lkg in yes no; do
		variant "JSON $1 (last known good: $lkg)" "$CONF" $lkg cfapi api \
			"$BASE/api/ips.json" 65 "$3"
	done
	cp "$API/ips.json" "$DOC/api/ips.json"
}
json_fault "success:false (recorded auth error)" "$API/auth-error.json" "success"
json_variant x 'd["success"] = False'
json_fault "success:false with a result" "$WORK/variant.json" "success"
json_variant x 'del d["result"]'
json_fault "result missing" "$WORK/variant.json" "result"
json_variant x 'del d["result"]["ipv6_cidrs"]'
json_fault "ipv6_cidrs missing" "$WORK/variant.json" "ipv6_cidrs"
json_variant x 'del d["success"]'
json_fault "success missing" "$WORK/variant.json" "success"
json_variant x 'd["result"]["ipv4_cidrs"] = " ".join(d["result"]["ipv4_cidrs"])'
json_fault "ipv4_cidrs a string" "$WORK/variant.json" "ipv4_cidrs"
json_variant x 'd["result"]["ipv4_cidrs"][3] = 1729'
json_fault "a number in ipv4_cidrs" "$WORK/variant.json" "ipv4_cidrs"
json_variant x 'd["success"] = "true"'
json_fault "success a string" "$WORK/variant.json" "success"
json_variant x 'd["result"]["ipv6_cidrs"].insert(2, "198.41.128.0/17")'
json_fault "an IPv4 prefix in the IPv6 list" "$WORK/variant.json" "198.41.128.0/17"
json_variant x 'd["result"]["ipv4_cidrs"].append("2400:cb00::/32")'
json_fault "an IPv6 prefix in the IPv4 list" "$WORK/variant.json" "2400:cb00::/32"
json_variant x 'd["result"]["ipv6_cidrs"] = []'
json_fault "no IPv6 entries" "$WORK/variant.json" "ipv6_cidrs: empty"
json_variant x 'd["result"]["ipv4_cidrs"] = []'
json_fault "no IPv4 entries" "$WORK/variant.json" "ipv4_cidrs: empty"
printf '{"result":{"ipv4_cidrs":["173.245.48.0/20"' >"$WORK/variant.json"
json_fault "truncated document" "$WORK/variant.json" "JSON"
echo "html" >"$DOC/api/ips.json.fault"
for lkg in yes no; do
	variant "JSON source answered with HTML (last known good: $lkg)" "$CONF" $lkg cfapi api \
		"$BASE/api/ips.json" 65 "HTML"
done
rm -f "$DOC/api/ips.json.fault"

# a fallback is not only "leave it": a target that lost its table gets the last known good
# list back while the source is failing
reset_state yes
nft list table inet cdnallow >"$WORK/edge.good"
nft delete table inet cdnallow
echo "status 503" >"$DOC/ips-v6.fault"
run "$CONF"
rm -f "$DOC/ips-v6.fault"
check "fallback re-applies the last known good list: exit 75" expect_rc 75
check "fallback re-applies the last known good list: source fallback" \
	is fallback jsrc cloudflare status
check "fallback re-applies the last known good list: target changed" is changed jtgt edge status
nft list table inet cdnallow >"$WORK/edge.after"
check "fallback re-applies the last known good list: table as before" \
	diff "$WORK/edge.good" "$WORK/edge.after"

# ---------------------------------------------------------------------------------------
# Apply-side faults. Sources over file:// (no server needed), lists as files we control.
# set_cidrs FAMILY TABLE SET: what the kernel holds, collapsed to a minimal CIDR list
cat >"$WORK/cidrs.py" <<'PY'
import ipaddress, json, subprocess, sys
def collapse(nets):
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    return [str(n) for n in ipaddress.collapse_addresses(v4)] + \
           [str(n) for n in ipaddress.collapse_addresses(v6)]
def elems(fam, table, name):
    out = subprocess.run(["nft", "-j", "list", "set", fam, table, name],
                         capture_output=True, text=True, check=True).stdout
    nets = []
    for o in json.loads(out)["nftables"]:
        for e in o.get("set", {}).get("elem", []):
            if isinstance(e, dict) and "elem" in e:
                e = e["elem"]["val"]
            if isinstance(e, str):
                nets.append(ipaddress.ip_network(e))
            elif "prefix" in e:
                nets.append(ipaddress.ip_network("%s/%d" % (e["prefix"]["addr"],
                                                           e["prefix"]["len"])))
            elif "range" in e:
                lo, hi = (ipaddress.ip_address(a) for a in e["range"])
                nets.extend(ipaddress.summarize_address_range(lo, hi))
    return nets
if sys.argv[1] == "set":
    nets = []
    for s in sys.argv[4:]:
        nets += elems(sys.argv[2], sys.argv[3], s)
else:
    nets = [ipaddress.ip_network(l.strip()) for f in sys.argv[2:] for l in open(f)
            if l.strip()]
print("\n".join(collapse(nets)))
PY
# kernel_cidrs TABLE SET...: collapsed CIDRs of the sets; list_cidrs FILE...: of list files
kernel_cidrs() { t=$1; shift; python3 "$WORK/cidrs.py" set inet "$t" "$@"; }
list_cidrs() { python3 "$WORK/cidrs.py" list "$@"; }
# holds TABLE OLDDIR NEWDIR: the sets hold exactly the old or exactly the new list (prints which)
holds() {
	kernel_cidrs "$1" allow_v4 allow_v6 >"$WORK/held" || return 1
	list_cidrs "$2/ips-v4" "$2/ips-v6" >"$WORK/exp.old"
	list_cidrs "$3/ips-v4" "$3/ips-v6" >"$WORK/exp.new"
	if cmp -s "$WORK/held" "$WORK/exp.old"; then
		echo old
	elif cmp -s "$WORK/held" "$WORK/exp.new"; then
		echo new
	else
		echo "a mix: $(diff "$WORK/exp.old" "$WORK/held" | grep -c '^[<>]') lines off the old list"
		return 1
	fi
}

OLD="$WORK/list-old"
NEW="$WORK/list-new"
FILES="$WORK/files"
mkdir -p "$OLD" "$NEW" "$FILES"
cp "$CF/ips-v4" "$CF/ips-v6" "$OLD/"
# the new list only adds (the shrink guard stays quiet): two IPv4 and one IPv6 prefix
{ cat "$CF/ips-v4"; printf '\n45.85.118.0/23\n5.226.179.0/24\n'; } >"$NEW/ips-v4"
{ cat "$CF/ips-v6"; printf '\n2a09:bac0::/29\n'; } >"$NEW/ips-v6"
fpublish() { cf_publish "$FILES" "$1"; }
FSTATE="$WORK/fstate"
# fconf FILE TABLE [target lines...]: the cloudflare provider from file://, one nft target
fconf() {
	f=$1 t=$2
	shift 2
	{
		echo "[cdnallow]"
		echo "state_dir = $FSTATE"
		echo "lock_timeout = 20s"
		echo "[source.cf]"
		echo "provider = cloudflare"
		echo "url = file://$FILES/ips-v4 file://$FILES/ips-v6"
		echo "[target.t]"
		echo "backend = nftables"
		echo "sources = cf"
		echo "table = $t"
		for l in "$@"; do echo "$l"; done
	} >"$f"
	chmod 600 "$f"
}
nft list ruleset >"$WORK/good"

# own-table mode, a set of ours already there with the wrong type or without the interval
# flag: nothing is created or changed (not even the other, missing set), exit 69
for kind in "type ipv6_addr; flags interval" "type ipv4_addr"; do
	rm -rf "$FSTATE"
	fpublish "$OLD"
	nft "add table inet owned; add set inet owned allow_v4 { $kind; }"
	nft list ruleset >"$WORK/before"
	fconf "$WORK/own.conf" owned
	run "$WORK/own.conf"
	label="own table, allow_v4 pre-created as { $kind }"
	nft list ruleset >"$WORK/after"
	check "$label: ruleset byte-identical (allow_v6 not created)" diff "$WORK/before" "$WORK/after"
	check "$label: exit 69" expect_rc 69
	check "$label: target failed" is failed jtgt t status
	check "$label: message names the set and what it needs" \
		hasF "set inet owned allow_v4 has" "$WORK/err"
	check "$label: ... and the requirement" hasF "needs type ipv4_addr; flags interval" "$WORK/err"
	check "$label: no source state saved" sh -c "! ls '$FSTATE'/source-* 2>/dev/null"
	sed 's/^/# /' "$WORK/err"
	# converges once the operator removes the wrong set
	nft delete table inet owned
	run "$WORK/own.conf"
	check "$label: after removing it, the next run exits 0" expect_rc 0
	check "$label: ... and the sets hold the list" is old holds owned "$OLD" "$NEW"
	nft delete table inet owned
done

# admin-owned mode (create = no) and the table is missing: exit 69, nothing created
rm -rf "$FSTATE"
fconf "$WORK/adm.conf" adm "create = no"
nft list ruleset >"$WORK/before"
run "$WORK/adm.conf"
nft list ruleset >"$WORK/after"
check "admin table missing: ruleset byte-identical (nothing created)" \
	diff "$WORK/before" "$WORK/after"
check "admin table missing: exit 69" expect_rc 69
check "admin table missing: message says so" \
	hasF "table inet adm does not exist (create = no" "$WORK/err"
check "admin table missing: message names the target" hasF "target t:" "$WORK/err"
sed 's/^/# /' "$WORK/err"

# the kernel refuses the batch: the admin's set has a size limit the new list exceeds (14
# IPv4 intervals fit, 16 do not). The batch also adds to the IPv6 set, which has room: one
# transaction, so neither set changes.
nft -f - <<'NFT'
table inet adm {
	set allow_v4 { type ipv4_addr; flags interval; size 14; }
	set allow_v6 { type ipv6_addr; flags interval; }
	chain input {
		type filter hook input priority 0; policy accept;
		tcp dport 443 ip saddr @allow_v4 accept
		tcp dport 443 ip6 saddr @allow_v6 accept
		tcp dport 443 drop
	}
}
NFT
fpublish "$OLD"
run "$WORK/adm.conf"
check "kernel refusal setup: the old list fits (exit 0)" expect_rc 0
check "kernel refusal setup: the sets hold the old list" is old holds adm "$OLD" "$NEW"
nft list ruleset >"$WORK/before"
tree_sum "$FSTATE" >"$WORK/st.before"
fpublish "$NEW"
run "$WORK/adm.conf"
nft list ruleset >"$WORK/after"
check "kernel refuses the batch: exit 69" expect_rc 69
check "kernel refuses the batch: target failed" is failed jtgt t status
check "kernel refuses the batch: ruleset byte-identical (IPv6 additions not applied either)" \
	diff "$WORK/before" "$WORK/after"
check "kernel refuses the batch: the sets hold exactly the old list" is old holds adm "$OLD" "$NEW"
check "kernel refuses the batch: message says the kernel refused and why" \
	has "kernel refused .*: Too many open files in system; nothing was changed" "$WORK/err"
check "kernel refuses the batch: message says the target was left as it was" \
	hasF "left as it was" "$WORK/err"
tree_sum "$FSTATE" >"$WORK/st.after"
check "kernel refuses the batch: state dir unchanged" cmp "$WORK/st.before" "$WORK/st.after"
sed 's/^/# /' "$WORK/err"
# the admin enlarges the set (a new set, same rules): the next normal run converges
nft -f - <<'NFT'
flush chain inet adm input
delete set inet adm allow_v4
add set inet adm allow_v4 { type ipv4_addr; flags interval; size 64; }
add rule inet adm input tcp dport 443 ip saddr @allow_v4 accept
add rule inet adm input tcp dport 443 ip6 saddr @allow_v6 accept
add rule inet adm input tcp dport 443 drop
NFT
run "$WORK/adm.conf"
check "after the refusal, the next run converges: exit 0" expect_rc 0
check "after the refusal, the next run converges: the new list" is new holds adm "$OLD" "$NEW"
nft delete table inet adm

# the state dir is read-only (a read-only bind mount in a private mount namespace): the run
# cannot take its lock, applies nothing, exits 71; the next normal run converges
rm -rf "$FSTATE"
fconf "$WORK/st.conf" stt
fpublish "$OLD"
run "$WORK/st.conf"
check "state dir setup: exit 0" expect_rc 0
fpublish "$NEW"
nft list ruleset >"$WORK/before"
tree_sum "$FSTATE" >"$WORK/st.before"
unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift &&
	exec "$@"' sh "$FSTATE" "$CDNALLOW" -c "$WORK/st.conf" --json sync >"$WORK/out" 2>"$WORK/err"
echo $? >"$WORK/rc"
nft list ruleset >"$WORK/after"
check "read-only state dir: exit 71" expect_rc 71
check "read-only state dir: ruleset byte-identical" diff "$WORK/before" "$WORK/after"
check "read-only state dir: message names the state dir and the cause" \
	sh -c "grep -F '$FSTATE' '$WORK/err' | grep -q 'Read-only file system'"
tree_sum "$FSTATE" >"$WORK/st.after"
check "read-only state dir: state unchanged" cmp "$WORK/st.before" "$WORK/st.after"
sed 's/^/# /' "$WORK/err"
run "$WORK/st.conf"
check "read-only state dir: the next normal run exits 0" expect_rc 0
check "read-only state dir: the next normal run applies the new list" \
	is new holds stt "$OLD" "$NEW"

# the state dir is full (a small tmpfs over it holding a copy of its files, then filled):
# full_run FREEPAGES DROP-CACHE: runs one sync with the new list published over the old.
full_run() {
	fpublish "$OLD"
	rm -rf "$FSTATE"
	nft delete table inet stt 2>/dev/null
	run "$WORK/st.conf"
	fpublish "$NEW"
	nft list ruleset >"$WORK/before"
	unshare -m sh -c '
		d=$1 free=$2 drop=$3
		shift 3
		mkdir -p "$d.copy" && cp -a "$d/." "$d.copy/" &&
			mount -t tmpfs -o size=1m,mode=0700 none "$d" && cp -a "$d.copy/." "$d/" ||
			exit 99
		rm -rf "$d.copy"
		[ "$drop" = yes ] && rm -f "$d"/applied-*
		dd if=/dev/zero of="$d/filler" bs=4096 2>/dev/null
		sz=$(stat -c %s "$d/filler")
		truncate -s $((sz - 4096 * free)) "$d/filler"
		"$@"
		rc=$?
		cat "$d"/source-* >"$d.saved" 2>/dev/null
		exit $rc' sh "$FSTATE" "$1" "$2" "$CDNALLOW" -c "$WORK/st.conf" --json sync \
		>"$WORK/out" 2>"$WORK/err"
	echo $? >"$WORK/rc"
	sed 's/^/# /' "$WORK/err"
}
# no free page at all: the kernel takes the new list, then the backend's cache write fails
full_run 0 no
label="state dir full (no page free)"
check "$label: the sets hold exactly the old or the new list" holds stt "$OLD" "$NEW"
check "$label: exit 71 (state directory unusable)" expect_rc 71
check "$label: message names the state dir and ENOSPC" \
	sh -c "grep -F '$FSTATE' '$WORK/err' | grep -q 'No space left on device'"
# whatever happened, the message must tell the truth about the target
if [ "$(holds stt "$OLD" "$NEW")" = new ]; then
	check "$label: the sets changed, so no message says the target was left as it was" \
		sh -c "! grep -F 'left as it was' '$WORK/err'"
	check "$label: the sets changed, so the JSON target status is changed" \
		is changed jtgt t status
fi
run "$WORK/st.conf"
check "$label: the next normal run exits 0" expect_rc 0
check "$label: the next normal run holds the new list" is new holds stt "$OLD" "$NEW"
check "$label: the next normal run saved the new list as last known good" \
	sh -c "grep -q '45.85.118.0/23' '$FSTATE'/source-cf*"
# one page free and no backend cache yet: the cache write succeeds, the last known good list
# (which already exists, so needs a second page before its rename) does not
full_run 1 yes
label="state dir full (room for the cache only)"
check "$label: the sets hold the new list" is new holds stt "$OLD" "$NEW"
check "$label: the last known good list was not saved" \
	sh -c "! grep -q '45.85.118.0/23' '$FSTATE.saved'"
check "$label: message names the source file and ENOSPC" \
	sh -c "grep -F '$FSTATE' '$WORK/err' | grep 'source-cf' | grep -q 'No space left on device'"
check "$label: exit 71 (state directory unusable), not success" expect_rc 71
run "$WORK/st.conf"
check "$label: the next normal run exits 0" expect_rc 0
check "$label: the next normal run holds the new list" is new holds stt "$OLD" "$NEW"
check "$label: the next normal run saved the new list as last known good" \
	sh -c "grep -q '45.85.118.0/23' '$FSTATE'/source-cf*"
nft delete table inet stt

finish
