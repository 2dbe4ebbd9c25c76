#!/bin/sh
# SPDX-License-Identifier: MIT
# Operations: fetch and restore (no network at all), the metrics file, quiet mode for cron,
# check, usage and configuration exit statuses.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"

CF2021="$DATA/cloudflare/plug_cloudflare_2021-11-18_522639f"
DOC="$WORK/doc"
mkdir -p "$DOC"
cf_publish "$DOC" "$CF2021"
https_start "$DOC"
CONF="$WORK/cdnallow.conf"
cf_config "$CONF"
sed -i "s#^lock_timeout = 20s#lock_timeout = 20s\nmetrics_file = $WORK/metrics/cdnallow.prom#" "$CONF"
mkdir -p "$WORK/metrics"
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }; }

# check, usage and configuration errors
run check
check "check exits 0 on a good config" expect_rc 0
run frobnicate
check "an unknown command exits 64" expect_rc 64
"$CDNALLOW" --no-such-option >/dev/null 2>&1; echo $? >"$WORK/rc"
check "an unknown option exits 64" expect_rc 64
"$CDNALLOW" --no-such-option >/dev/null 2>"$WORK/err"
check "getopt's message starts with 'cdnallow:', not the binary's path" \
	grep -q "^cdnallow: unknown option '--no-such-option'" "$WORK/err"
"$CDNALLOW" -c >/dev/null 2>"$WORK/err"
check "a missing option argument is named" grep -q "^cdnallow: option '-c' needs an argument" "$WORK/err"
for cmd in check show doctor unlock sync diff fetch restore; do
	run --target nosuch $cmd
	check "--target nosuch is a usage error for $cmd (64)" expect_rc 64
	check "... naming the target ($cmd)" grep -q "no \[target.nosuch\]" "$WORK/err"
done
run --port 443 sync
check "--port is a usage error for sync (64)" expect_rc 64
check "... saying which command does not take it" grep -q "sync does not take --port" "$WORK/err"
run --ip 192.0.2.1 show
check "--ip is a usage error for show (64)" expect_rc 64
run --force check
check "--force is a usage error for check (64)" expect_rc 64
run --json check
check "--json check exits 0" expect_rc 0
check "--json check prints one JSON document" python3 -c "
import json, sys
d = json.load(open('$WORK/out'))
assert d['ok'] is True and d['sources'] == 1 and d['targets'] == 1, d
"
printf '[cdnallow]\nmax_shrink = lots\n' >"$WORK/bad.conf"; chmod 600 "$WORK/bad.conf"
"$CDNALLOW" -c "$WORK/bad.conf" --json check >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"
check "--json check of a bad config exits 78" expect_rc 78
check "... and its JSON names file, line and class" python3 -c "
import json
d = json.load(open('$WORK/out'))
e = d['error']
assert d['ok'] is False and e['class'] == 'config' and e['line'] == 2, d
assert e['origin'].endswith('bad.conf') and 'max_shrink' in e['message'], d
"
"$CDNALLOW" -c "$WORK/bad.conf" check >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"
check "a bad value exits 78" expect_rc 78
check "... naming file:line and the key" grep -q "bad.conf:2: max_shrink" "$WORK/err"
chmod 666 "$WORK/bad.conf"
"$CDNALLOW" -c "$WORK/bad.conf" check >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"
check "a world-writable config is refused (78)" expect_rc 78
# check opens each target's backend, which checks the values of its keys
cf_config "$WORK/tpl.conf" "[target.list]" "backend = file" "sources = cloudflare" \
	"path = $WORK/list.txt" 'line = "{cidr}{source}"'
"$CDNALLOW" -c "$WORK/tpl.conf" check >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"
check "check refuses a file template that cannot be read back (78)" expect_rc 78
check "... naming file:line and the key" grep -q "tpl.conf:16: line: placeholders" "$WORK/err"

# fetch refreshes the cache only: state written, no table created
run fetch
check "fetch exits 0" expect_rc 0
check "fetch stored the last known good list" test -s "$WORK/state/source-cloudflare.list"
check "fetch created no nftables table" sh -c "! nft list table inet cdnallow >/dev/null 2>&1"

# restore with the server gone and no route anywhere: no fetch is attempted at all
kill "$HTTPSD_PID"; wait "$HTTPSD_PID" 2>/dev/null; HTTPSD_PID=
: >"$REQLOG"
# (LeakSanitizer cannot run under ptrace: the sanitizer build's leak check is off here only)
ASAN_OPTIONS=detect_leaks=0 strace -f -e trace=connect -o "$WORK/strace" \
	"$CDNALLOW" -c "$CONF" restore >"$WORK/out" 2>"$WORK/err"
echo $? >"$WORK/rc"
check "restore exits 0 with the network unreachable" expect_rc 0
check "restore filled the sets from the cache" sh -c "nft list set inet cdnallow allow_v4 | grep -q 131.0.72.0/22"
check "restore opened no TCP connection (strace)" sh -c "! grep -q 'AF_INET' '$WORK/strace'"
run restore --detailed-exitcode
check "a second restore is a no-op" expect_rc 0
run sync
check "sync with the provider unreachable falls back (75)" expect_rc 75

# metrics: written atomically, in node_exporter's textfile format, parsed strictly
https_start "$DOC"
sed -i "s#https://127.0.0.1:[0-9]*/#$BASE/#g" "$CONF"
run sync
check "sync after recovery exits 0" expect_rc 0
python3 - "$WORK/metrics/cdnallow.prom" >"$WORK/mcheck" 2>&1 <<'PY'
import re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n")
types, seen = {}, {}
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
line_re = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{' + label + '(?:,' + label +
                     r')*\})? (?P<value>-?[0-9.eE+-]+|NaN|[+-]Inf)$')
for l in text.splitlines():
    if l.startswith("# HELP "):
        continue
    if l.startswith("# TYPE "):
        _, _, name, kind = l.split(" ")
        assert kind in ("gauge", "counter"), l
        assert name not in types, "duplicate TYPE " + name
        types[name] = kind
        continue
    m = line_re.match(l)
    assert m, "bad sample line: " + l
    assert m.group("name") in types, "sample before its TYPE: " + l
    key = (m.group("name"), m.group("labels"))
    assert key not in seen, "duplicate sample " + l
    seen[key] = float(m.group("value"))
need = {
    ("cdnallow_target_entries", '{target="edge",family="ipv4"}'): 15,
    ("cdnallow_target_entries", '{target="edge",family="ipv6"}'): 7,
    ("cdnallow_source_failed", '{source="cloudflare"}'): 0,
    ("cdnallow_guard_refused", '{target="edge"}'): 0,
}
for k, v in need.items():
    assert seen.get(k) == v, "%s = %s, want %s" % (k, seen.get(k), v)
assert seen[("cdnallow_last_success_timestamp_seconds", None)] > 1.7e9
print("metrics ok: %d samples" % len(seen))
PY
check "the metrics file parses strictly ($(tail -n1 "$WORK/mcheck"))" grep -q "metrics ok" "$WORK/mcheck"
check "no temporary file is left next to the metrics" sh -c "[ \$(ls '$WORK/metrics' | wc -l) = 1 ]"
if command -v promtool >/dev/null; then
	check "promtool accepts the metrics" sh -c "promtool check metrics <'$WORK/metrics/cdnallow.prom'"
fi

# quiet for cron: nothing on stdout or stderr when nothing changed; the change when it did
run -q sync
check "-q prints nothing when nothing changed" sh -c "[ ! -s '$WORK/out' ] && [ ! -s '$WORK/err' ]"
nft flush set inet cdnallow allow_v6
run -q sync
check "-q prints the change when something changed" grep -q "+ 2400:cb00::/32" "$WORK/out"
run --json show
check "show --json is valid JSON with the entries" python3 -c \
	"import json,sys; d=json.load(open('$WORK/out')); assert '2400:cb00::/32' in d['targets'][0]['entries']"
run --json sync
check "sync --json is one valid JSON document" python3 -c \
	"import json; d=json.load(open('$WORK/out')); assert d['targets'][0]['status']=='unchanged'"

# several targets in one run: each atomic on its own; a failing one stops no other, and the
# summary, JSON and exit status say which failed
MT="$WORK/multi.conf"
cf_config "$MT" "table = multi"
sed -i "s#^state_dir = .*#state_dir = $WORK/state-multi#" "$MT"
cat >>"$MT" <<EOF2
[target.realip]
backend = file
sources = cloudflare
path = $WORK/realip.conf
line = "set_real_ip_from {cidr};"
check = false {path}
[target.trusted]
backend = file
sources = cloudflare
path = $WORK/trusted.txt
EOF2
"$CDNALLOW" -c "$MT" --json sync >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"
check "one failing target makes the run exit 69" expect_rc 69
check "the JSON says which target failed and which were applied" python3 -c "
import json
t = {x['name']: x['status'] for x in json.load(open('$WORK/out'))['targets']}
assert t == {'edge': 'changed', 'realip': 'failed', 'trusted': 'changed'}, t"
check "the log names the failed target and its check" grep -q "target realip: .*false" "$WORK/err"
check "the nftables target was applied anyway" sh -c "nft list set inet multi allow_v4 | grep -q 131.0.72.0/22"
check "the other file target was written" grep -q "^2400:cb00::/32" "$WORK/trusted.txt"
check "the failed file target wrote nothing" test ! -e "$WORK/realip.conf"
nft delete table inet multi

# keep_withdrawn: a range withdrawn upstream stays allowed for the grace period, shown as
# pending in diff and JSON, then goes
CF2015="$DATA/cloudflare/plug_cloudflare_2015-05-10_a48ec64"
KW="$WORK/kw.conf"
cf_config "$KW" "table = kw"
sed -i "s#^state_dir = .*#state_dir = $WORK/state-kw\nkeep_withdrawn = 4s#" "$KW"
cf_publish "$DOC" "$CF2015"
"$CDNALLOW" -c "$KW" sync >/dev/null 2>&1
cf_publish "$DOC" "$CF2021"
"$CDNALLOW" -c "$KW" diff --json >"$WORK/out" 2>"$WORK/err"
check "diff lists 199.27.128.0/21 as a pending removal" python3 -c \
	"import json; t=json.load(open('$WORK/out'))['targets'][0]; assert '199.27.128.0/21' in [p['cidr'] for p in t['pending_removal']], t; assert '199.27.128.0/21' not in t['removed']"
"$CDNALLOW" -c "$KW" sync >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"
check "the sync inside the grace period exits 0 (nothing removed, no guard)" expect_rc 0
check "the human diff shows the pending removal" grep -q "~ 199.27.128.0/21 .*withdrawn upstream, kept until" "$WORK/out"
check "the withdrawn range is still allowed" sh -c "nft list set inet kw allow_v4 | grep -q 199.27.128.0/21"
check "the new ranges were added at once" sh -c "nft list set inet kw allow_v4 | grep -q 131.0.72.0/22"
sleep 4.5
"$CDNALLOW" -c "$KW" sync --force >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"
check "after the grace period the sync exits 0" expect_rc 0
check "after the grace period the range is gone" sh -c "! nft list set inet kw allow_v4 | grep -q 199.27.128.0/21"
check "... and reported removed" grep -q "^  - 199.27.128.0/21" "$WORK/out"

# the largest grace period the config takes neither overflows (UBSan) nor wraps into the past
sed -i "s#^keep_withdrawn = 4s#keep_withdrawn = 9223372036854775807#" "$KW"
rm -rf "$WORK/state-kw"
nft delete table inet kw
cf_publish "$DOC" "$CF2015"
"$CDNALLOW" -c "$KW" sync >/dev/null 2>&1
cf_publish "$DOC" "$CF2021"
"$CDNALLOW" -c "$KW" diff --json >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"
check "keep_withdrawn = 2^63-1: diff exits 0" expect_rc 0
check "... and the pending removal is kept until after now, not wrapped into the past" \
	python3 -c "import json, time; t=json.load(open('$WORK/out'))['targets'][0]; u=[p['until'] for p in t['pending_removal']]; assert u and min(u) > time.time(), u"
finish
