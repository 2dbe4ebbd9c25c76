#!/bin/sh
# SPDX-License-Identifier: MIT
# The exec backend with real commands (tests/integration/exec_fw.py plays the firewall): the
# document on stdin against its schema, the state token round trip, failures that change
# nothing and are retried, the timeout killing the process group, --dry-run, a garbage
# token, a command that never reads stdin, read_command for show/diff/verify, the confined
# environment, and a 100k-prefix list streamed while the command writes as much back.
# No firewall and no network: sources are file:// lists. Prints TAP.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
command -v python3 >/dev/null || prereq_missing python3
WORK=$(mktemp -d /tmp/cdnallow-exec.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
[ "${KEEP_WORK:-}" = 1 ] && trap - EXIT

EXECFW="$CDNALLOW_SRC/tests/integration/exec_fw.py"
GEN="$CDNALLOW_SRC/tests/bench/gen.py"
FW="$WORK/fw"
mkdir -p "$FW"
LIST="$WORK/list.txt"
CONF="$WORK/cdnallow.conf"

# conf [target lines...]: one exec target fed by $LIST
conf() {
	{
		echo "[cdnallow]"
		echo "state_dir = $WORK/state"
		echo "lock_timeout = 20s"
		echo "[source.cdn]"
		echo "provider = text"
		echo "url = file://$LIST"
		echo "[target.cloud]"
		echo "backend = exec"
		echo "sources = cdn"
		echo "command = python3 '$EXECFW' apply '$FW'"
		for l in "$@"; do echo "$l"; done
	} >"$CONF"
	chmod 600 "$CONF"
}
run() { "$CDNALLOW" -c "$CONF" "$@" >"$WORK/out" 2>"$WORK/err"; echo $? >"$WORK/rc"; }
expect_rc() { [ "$(cat "$WORK/rc")" = "$1" ] || { cat "$WORK/out" "$WORK/err"; echo "rc $(cat "$WORK/rc") != $1"; return 1; }; }
docs() { ls "$FW" | grep -c '^doc\.' || true; }
# jq-like: py EXPR FILE, with the document as d
py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert $1, d" "$2"; }
token() { sed -n 2p "$WORK/state/token-exec-cloud.tok"; }
mode() { if [ -n "$1" ]; then echo "$1" >"$FW/mode"; else rm -f "$FW/mode"; fi; }

printf '104.16.0.0/13\n104.24.0.0/14\n173.245.48.0/20\n2400:cb00::/32\n' >"$LIST"
conf

# 1. the first apply: full list, empty state, a token back
run sync --json
check "first sync exits 0" expect_rc 0
check "the command ran once" test "$(docs)" = 1
check "its stdin matched the schema (exec_fw.py checks it strictly)" test -s "$FW/held"
check "first document: empty state, everything added, nothing removed" py \
	'd["state"] == "" and d["added"] == d["want"] and d["removed"] == {"ipv4": [], "ipv6": []}' \
	"$FW/doc.1.json"
check "first document: want per family, sources_of names the source" py \
	'd["want"]["ipv6"] == ["2400:cb00::/32"] and len(d["want"]["ipv4"]) == 3 and set(d["sources_of"].values()) == {"cdn"}' \
	"$FW/doc.1.json"
check "the token it printed is recorded" test "$(token)" = gen-1
check "the applied list is recorded" grep -q '^173.245.48.0-173.245.63.255$' \
	"$WORK/state/applied-exec-cloud.list"
check "JSON report: changed" grep -q '"status":"changed"' "$WORK/out"
run show
check "show without read_command says the list is the last applied one" \
	grep -q '^target cloud (exec): 3 IPv4 + 1 IPv6, as last applied (no read_command)$' "$WORK/out"

# 2. nothing changed upstream: the command is not run
run sync
check "unchanged sync exits 0" expect_rc 0
check "unchanged sync does not run the command" test "$(docs)" = 1

# 3. a change: the old token comes back, added and removed are the delta
printf '104.16.0.0/13\n104.24.0.0/14\n173.245.48.0/20\n2400:cb00::/32\n2606:4700::/32\n' >"$LIST"
run sync
check "second change exits 0" expect_rc 0
check "the second document carries the first token" py 'd["state"] == "gen-1"' "$FW/doc.2.json"
check "the second document adds exactly 2606:4700::/32" py \
	'd["added"] == {"ipv4": [], "ipv6": ["2606:4700::/32"]} and d["removed"] == {"ipv4": [], "ipv6": []}' \
	"$FW/doc.2.json"
check "the new token replaces the old one" test "$(token)" = gen-2

# 4. --dry-run and diff never run the command and change no state
printf '104.16.0.0/13\n104.24.0.0/14\n173.245.48.0/20\n2400:cb00::/32\n2606:4700::/32\n2803:f800::/32\n' >"$LIST"
tree_sum "$WORK/state" >"$WORK/st1"
run sync --dry-run --detailed-exitcode
check "dry run exits 2 (would change)" expect_rc 2
check "dry run shows the pending + 2803:f800::/32" grep -q '+ 2803:f800::/32' "$WORK/out"
run diff
check "diff exits 0" expect_rc 0
check "neither ran the command" test "$(docs)" = 2
tree_sum "$WORK/state" >"$WORK/st2"
check "neither changed the state dir" cmp "$WORK/st1" "$WORK/st2"

# 5. a failing command: exit 69 with its stderr's end, nothing recorded, retried next run
mode fail
run sync
check "failing command: exit 69" expect_rc 69
check "the error quotes the end of its stderr" \
	grep -q 'failed (exit 1): exec_fw: first line; exec_fw: simulated failure, nothing changed' "$WORK/err"
tree_sum "$WORK/state" >"$WORK/st3"
check "failure leaves the state dir as it was" cmp "$WORK/st1" "$WORK/st3"
mode ""
run sync
check "the next run retries and succeeds" expect_rc 0
check "the retry carries the token of the last success" py 'd["state"] == "gen-2"' "$FW/doc.4.json"
check "the retry's delta is still the whole change" py \
	'd["added"]["ipv6"] == ["2803:f800::/32"]' "$FW/doc.4.json"
check "token after the retry" test "$(token)" = gen-4

# 6. exit 0 with garbage for a token: a failure, nothing recorded
printf '104.16.0.0/13\n2400:cb00::/32\n' >"$LIST"
mode garbage
tree_sum "$WORK/state" >"$WORK/st4"
run sync --force
check "garbage token: exit 69" expect_rc 69
check "garbage token: named as such" grep -q 'state token is unusable (more than one line)' "$WORK/err"
tree_sum "$WORK/state" >"$WORK/st5"
check "garbage token: state dir as it was" cmp "$WORK/st4" "$WORK/st5"
mode ""
run sync --force
check "after a garbage token the next run applies again" expect_rc 0
check "... with the last good token" py 'd["state"] == "gen-4"' "$FW/doc.6.json"

# 7. the timeout ends the command and everything it started (its process group)
printf '104.16.0.0/13\n2400:cb00::/32\n2a06:98c0::/29\n' >"$LIST"
conf "timeout = 2s"
mode hang
tree_sum "$WORK/state" >"$WORK/st6"
t0=$(date +%s)
run sync
t1=$(date +%s)
check "hanging command: exit 69" expect_rc 69
check "hanging command: 'timed out after 2 s'" grep -q 'timed out after 2 s' "$WORK/err"
check "hanging command: the run ends within seconds ($((t1 - t0)) s)" test $((t1 - t0)) -le 10
gc=$(cat "$FW/grandchild.pid" 2>/dev/null || echo 0)
gone() { [ "$gc" != 0 ] && ! grep -qs '^State:.*[RSD]' "/proc/$gc/status"; }
check "the grandchild that ignored SIGTERM is gone too" gone
tree_sum "$WORK/state" >"$WORK/st7"
check "timeout: state dir as it was" cmp "$WORK/st6" "$WORK/st7"

# 8. the command runs confined: fixed PATH, LANG=C, nothing else of ours, fds 0-2 only
mode ""
conf
export CDA_TEST_SECRET=leak
run sync 7</dev/null
unset CDA_TEST_SECRET
check "confined run exits 0" expect_rc 0
check "the command saw the fixed PATH and LANG=C" py \
	'd["env"]["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" and d["env"]["LANG"] == "C"' \
	"$FW/seen.apply.json"
check "none of our environment (PATH, LANG and Python's own LC_CTYPE aside)" py \
	'set(d["env"]) <= {"PATH", "LANG", "LC_CTYPE"}' "$FW/seen.apply.json"
check "no inherited descriptor (fd 7 was open in cdnallow)" py \
	'[f for f in d["fds"] if f > 3] == []' "$FW/seen.apply.json"

# 9. read_command: what the firewall holds, for show, diff and verify
conf "read_command = python3 '$EXECFW' read '$FW'"
echo "198.51.100.0/24" >>"$FW/held" # someone added an entry outside cdnallow
rm -f "$FW"/seen.*
run show
check "show with read_command lists what the firewall holds" \
	grep -q '^  198.51.100.0/24$' "$WORK/out"
check "show with read_command has no note" grep -q '^target cloud (exec): 2 IPv4 + 2 IPv6$' "$WORK/out"
n=$(docs)
run diff --force
check "diff runs read_command" test -s "$FW/seen.read.json"
check "diff shows the foreign entry as a removal" grep -q '^  - 198.51.100.0/24' "$WORK/out"
check "diff does not run the command" test "$(docs)" = "$n"
run sync --force
check "sync with read_command removes the foreign entry" expect_rc 0
check "the document says so" py 'd["removed"]["ipv4"] == ["198.51.100.0/24"]' "$FW/doc.$((n + 1)).json"
printf '104.16.0.0/13\n104.24.0.0/14\n2400:cb00::/32\n' >"$LIST"
mode lie
tree_sum "$WORK/state" >"$WORK/st8"
run sync --force
check "exit 0 but a read-back that differs: exit 69" expect_rc 69
check "the mismatch is named" grep -q 'read_command then shows' "$WORK/err"
tree_sum "$WORK/state" >"$WORK/st9"
check "mismatch: state dir as it was" cmp "$WORK/st8" "$WORK/st9"
# restore (at boot, before the network) runs no exec command, not even read_command
rm -f "$FW"/seen.*
n=$(docs)
run restore
check "restore exits 0: the exec target stands as last applied" expect_rc 0
check "restore ran neither read_command nor command" \
	sh -c "! ls '$FW'/seen.* >/dev/null 2>&1 && [ \$(ls '$FW' | grep -c '^doc\.') = $n ]"
mode ""

# 10. 100k prefixes streamed while the command copies all it reads to stderr
python3 "$GEN" disjoint --family 4 --n 100000 --change 1 --seed 18 "$LIST" "$WORK/list2.txt"
conf "timeout = 60s"
mode echo
t0=$(date +%s)
run sync --force
t1=$(date +%s)
check "100k-prefix apply exits 0 ($((t1 - t0)) s)" expect_rc 0
n=$(docs)
check "the command got all 100000 prefixes" py 'len(d["want"]["ipv4"]) == 100000' "$FW/doc.$n.json"

# 11. a command that never reads its stdin (a 100k document) and exits at once
cp "$WORK/list2.txt" "$LIST"
mode noread
run sync --force
check "a command that never reads stdin: exit 0" expect_rc 0
check "its token is recorded" test "$(token)" = noread-token
mode ""

finish
