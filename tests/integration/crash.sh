#!/bin/sh
# SPDX-License-Identifier: MIT
# Crash safety (issue 4): a run is killed (SIGTERM, SIGKILL) at several points while it
# replaces a large list (about 120,000 ranges, served over file://) with another. After each
# kill the sets hold exactly the old or exactly the new list, never a mix; the state dir never
# claims a list the kernel does not hold; no stale lock blocks the next run; the next normal
# run converges. Then 2 and 10 concurrent runs: all exit 0 (or fail clearly on the lock
# timeout), and the final sets equal the list.
. "$CDNALLOW_SRC/tests/integration/lib.sh"
netns_enter "$@"
command -v python3 >/dev/null || prereq_missing "python3"
N=${CRASH_RANGES:-120000}

# gen N SEED FILE: N random public /24s (their own seed each: two lists share few entries)
# and two IPv6 prefixes, one of which differs between seeds
gen() {
	python3 - "$@" <<'PY'
import random, sys
n, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
random.seed(seed)
bad = {0, 10, 100, 127, 169, 172, 192, 198, 203}
seen = set()
while len(seen) < n:
    a = random.randrange(1 << 24)
    if a >> 16 in bad or a >> 16 >= 224:
        continue
    seen.add(a)
with open(out, "w") as f:
    for a in sorted(seen):
        f.write("%d.%d.%d.0/24\n" % (a >> 16, (a >> 8) & 255, a & 255))
    f.write("2001:4860::/32\n2a00:1450:%x::/48\n" % seed)
PY
}
# The kernel's sets (or a list file, or a state file), collapsed: comparable as text
cat >"$WORK/cidrs.py" <<'PY'
import ipaddress, re, subprocess, sys
ITEM = re.compile(r"^[0-9a-fA-F:.]+([/-][0-9a-fA-F:.]+)?$")
def collapse(nets):
    out = []
    for v in (4, 6):
        out += [str(n) for n in ipaddress.collapse_addresses([n for n in nets if n.version == v])]
    return out
def parse_item(s):
    if "-" in s:
        lo, hi = (ipaddress.ip_address(a) for a in s.split("-"))
        return list(ipaddress.summarize_address_range(lo, hi))
    return [ipaddress.ip_network(s)]
nets = []
if sys.argv[1] == "set":
    for name in sys.argv[3:]:
        txt = subprocess.run(["nft", "list", "set", "inet", sys.argv[2], name],
                             capture_output=True, text=True, check=True).stdout
        m = re.search(r"elements = \{([^}]*)\}", txt)
        for item in (m.group(1).replace("\n", " ").split(",") if m else []):
            if item.strip():
                nets += parse_item(item.strip())
else:  # list or state file: one item per line, '#' comments and key lines skipped
    for f in sys.argv[2:]:
        for line in open(f):
            s = line.strip()
            if s and not s.startswith("#") and ITEM.match(s):
                nets += parse_item(s)
print("\n".join(collapse(nets)))
PY
kernel() { python3 "$WORK/cidrs.py" set crash allow_v4 allow_v6; }
collapse_file() { python3 "$WORK/cidrs.py" list "$@"; }

gen "$N" 1 "$WORK/a.txt"
gen "$N" 2 "$WORK/b.txt"
collapse_file "$WORK/a.txt" >"$WORK/a.c"
collapse_file "$WORK/b.txt" >"$WORK/b.c"
STATE="$WORK/state"
CONF="$WORK/crash.conf"
cat >"$CONF" <<EOF
[cdnallow]
state_dir = $STATE
lock_timeout = 120s
max_shrink = 100%
[source.big]
provider = text
url = file://$WORK/list.txt
[target.big]
backend = nftables
sources = big
table = crash
EOF
chmod 600 "$CONF"
publish() { cp "$1" "$WORK/list.tmp" && mv "$WORK/list.tmp" "$WORK/list.txt"; }
# which: old, new or a mix, comparing the kernel with the collapsed lists
which_list() { # OLD.c NEW.c
	kernel >"$WORK/held" || { echo "cannot read the sets"; return 1; }
	if cmp -s "$WORK/held" "$1"; then
		echo old
	elif cmp -s "$WORK/held" "$2"; then
		echo new
	else
		echo "a mix ($(diff "$1" "$WORK/held" | grep -c '^[<>]') lines off the old list)"
	fi
}

publish "$WORK/a.txt"
T0=$(date +%s.%N)
"$CDNALLOW" -c "$CONF" -q sync >/dev/null 2>"$WORK/err"
rc=$?
T1=$(date +%s.%N)
check "first sync of $N ranges exits 0" test $rc = 0
check "first sync: the sets hold list A" test "$(which_list "$WORK/b.c" "$WORK/a.c")" = new
publish "$WORK/b.txt"
T2=$(date +%s.%N)
"$CDNALLOW" -c "$CONF" -q sync >/dev/null 2>"$WORK/err"
rc=$?
T3=$(date +%s.%N)
check "replacing list A with list B exits 0" test $rc = 0
check "replacing: the sets hold list B" test "$(which_list "$WORK/a.c" "$WORK/b.c")" = new
echo "# first sync $(echo "$T1 - $T0" | bc) s, full replacement $(echo "$T3 - $T2" | bc) s"
cur=b

old_or_new() { [ "$1" = old ] || [ "$1" = new ]; }
next_ok() { [ "$nrc" = 0 ] || { cat "$WORK/err"; return 1; }; }
all_ok() { [ "$ok0" = "$1" ] || { echo "$other"; return 1; }; }
none_other() { [ -z "$other" ] || { echo "$other"; return 1; }; }

# kill SIGNAL DELAY: flip the published list, start a sync, kill it after DELAY seconds
kill_at() {
	sig=$1 delay=$2
	if [ $cur = a ]; then old=a new=b; else old=b new=a; fi
	publish "$WORK/$new.txt"
	"$CDNALLOW" -c "$CONF" -q sync >/dev/null 2>"$WORK/kerr" &
	pid=$!
	sleep "$delay"
	kill -s "$sig" $pid 2>/dev/null
	wait $pid
	krc=$?
	label="SIG$sig after ${delay}s (exit $krc)"
	got=$(which_list "$WORK/$old.c" "$WORK/$new.c")
	check "$label: the sets hold exactly the old or the new list ($got)" old_or_new "$got"
	# the state dir moves only after a verified apply: a saved new list implies the kernel's
	if [ -f "$STATE/source-big.list" ]; then
		collapse_file "$STATE/source-big.list" >"$WORK/saved.c"
		if cmp -s "$WORK/saved.c" "$WORK/$new.c"; then
			check "$label: the state saved the new list only after the kernel took it" \
				test "$got" = new
		else
			check "$label: the state holds the old list" cmp "$WORK/saved.c" "$WORK/$old.c"
		fi
	fi
	left=$(find "$STATE" -name '.*' -type f | wc -l)
	[ "$left" = 0 ] || echo "# $label: $left temporary file(s) left in the state dir"
	# the next normal run: no stale lock (a short lock timeout), converges to the new list
	sed -i 's/^lock_timeout = .*/lock_timeout = 5s/' "$CONF"
	"$CDNALLOW" -c "$CONF" -q sync >/dev/null 2>"$WORK/err"
	nrc=$?
	sed -i 's/^lock_timeout = .*/lock_timeout = 120s/' "$CONF"
	check "$label: the next run is not blocked by a stale lock and exits 0" next_ok
	check "$label: the next run converges to the new list" \
		test "$(which_list "$WORK/$old.c" "$WORK/$new.c")" = new
	cur=$new
}
for d in 0.05 0.2 0.5 0.9 1.5; do kill_at TERM $d; done
for d in 0.05 0.1 0.3 0.6 1.0 1.5; do kill_at KILL $d; done

# concurrent runs: N at once on a changed list; all wait for the lock and exit 0
concurrent() { # N TIMEOUT
	n=$1
	if [ $cur = a ]; then new=b; else new=a; fi
	publish "$WORK/$new.txt"
	sed -i "s/^lock_timeout = .*/lock_timeout = $2/" "$CONF"
	i=0
	pids=""
	while [ $i -lt "$n" ]; do
		( "$CDNALLOW" -c "$CONF" -q sync >/dev/null 2>"$WORK/c$i.err"
		  echo $? >"$WORK/c$i.rc" ) &
		pids="$pids $!"
		i=$((i + 1))
	done
	wait $pids
	ok0=0 lockfail=0 other=""
	i=0
	while [ $i -lt "$n" ]; do
		r=$(cat "$WORK/c$i.rc")
		if [ "$r" = 0 ]; then
			ok0=$((ok0 + 1))
		elif [ "$r" = 71 ] && grep -q "holds .*lock" "$WORK/c$i.err"; then
			lockfail=$((lockfail + 1))
		else
			other="$other run $i: exit $r: $(cat "$WORK/c$i.err");"
		fi
		i=$((i + 1))
	done
	cur=$new
}
concurrent 2 120s
check "2 concurrent runs: both exit 0" all_ok 2
check "2 concurrent runs: the sets hold the list" test "$(which_list /dev/null "$WORK/$cur.c")" = new
concurrent 10 120s
check "10 concurrent runs: all exit 0" all_ok 10
check "10 concurrent runs: the sets hold the list" test "$(which_list /dev/null "$WORK/$cur.c")" = new
concurrent 10 1s
echo "# 10 concurrent runs, lock_timeout 1s: $ok0 exit 0, $lockfail gave up on the lock"
check "10 concurrent runs, short lock timeout: each exits 0 or fails clearly on the lock" \
	none_other
check "10 concurrent runs, short lock timeout: at least one applied" test "$ok0" -ge 1
check "10 concurrent runs, short lock timeout: the sets hold the list" \
	test "$(which_list /dev/null "$WORK/$cur.c")" = new
nft delete table inet crash

finish
