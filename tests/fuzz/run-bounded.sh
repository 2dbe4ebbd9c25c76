#!/bin/sh
# SPDX-License-Identifier: MIT
# Bounded libFuzzer run of every fuzz target: builds build-fuzz (clang, -Dfuzz=enabled,
# ASan+UBSan) in the source tree when it is missing, then fuzzes each target for
# FUZZ_SECONDS (default 20) starting from its committed corpus. Any crash, leak, sanitizer
# report or timeout fails. New inputs go to a scratch dir, never into the committed corpus;
# a crashing input is kept under $CDNALLOW_BUILD/fuzz-artifacts (or the build-fuzz dir).
#
# Usage: tests/fuzz/run-bounded.sh [TARGET...]   (env: FUZZ_SECONDS, FUZZ_JOBS, FUZZ_BUILD)
# Outside CI a missing clang/libFuzzer skips (77); with CI=true it fails.
set -u
SRC=${CDNALLOW_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
FB=${FUZZ_BUILD:-$SRC/build-fuzz}
SECS=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_JOBS:-1}
TARGETS=${*:-text json config cidr privsep snapshot minisign}
ART=${CDNALLOW_BUILD:-$FB}/fuzz-artifacts

missing() {
	echo "# prerequisite missing: $*" >&2
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - prerequisite: $*"
		exit 1
	fi
	echo "1..0 # SKIP $*"
	exit 77
}

command -v clang >/dev/null || missing "clang (for the libFuzzer build)"
command -v meson >/dev/null || missing "meson"
# libFuzzer itself (libclang-rt-NN-dev on Debian): link a trivial target
probe=$(mktemp -d /tmp/cdnallow-fuzzprobe.XXXXXX)
cat >"$probe/p.c" <<'EOF'
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }
EOF
if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >"$probe/log" 2>&1; then
	cat "$probe/log" >&2
	rm -rf "$probe"
	missing "libFuzzer runtime (libclang-rt-dev)"
fi
rm -rf "$probe"

# Build (or bring up to date) the fuzz build; serialised, since two test runs may share it.
mkdir -p "$ART"
exec 9>/tmp/cdnallow-build-fuzz.lock
flock 9
if [ ! -f "$FB/build.ninja" ]; then
	CC=clang meson setup "$FB" "$SRC" -Dfuzz=enabled -Db_sanitize=address,undefined \
		-Db_lundef=false -Dwerror=true >"$ART/setup.log" 2>&1 ||
		{ cat "$ART/setup.log" >&2; echo "not ok 1 - meson setup $FB"; exit 1; }
fi
if ! meson compile -C "$FB" >"$ART/compile.log" 2>&1; then
	tail -n 40 "$ART/compile.log" >&2
	echo "not ok 1 - meson compile -C $FB"
	exit 1
fi
flock -u 9

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
n=0
fail=0
for t in $TARGETS; do
	n=$((n + 1))
	bin="$FB/tests/fuzz/fuzz_$t"
	corpus="$SRC/tests/fuzz/corpus/$t"
	if [ ! -x "$bin" ] || [ ! -d "$corpus" ]; then
		echo "not ok $n - fuzz_$t: $bin or $corpus missing"
		fail=$((fail + 1))
		continue
	fi
	scratch=$(mktemp -d /tmp/cdnallow-fuzz-$t.XXXXXX)
	log="$ART/fuzz_$t.log"
	# -timeout: one input taking over 10 s is a hang and fails, like a crash
	if [ "$JOBS" -gt 1 ]; then
		# -jobs: each worker writes fuzz-N.log in the current directory
		mkdir "$scratch.jobs"
		(cd "$scratch.jobs" && "$bin" -max_total_time="$SECS" -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$ART/fuzz_$t-" \
			-jobs="$JOBS" -workers="$JOBS" "$scratch" "$corpus") >"$log" 2>&1
		rc=$?
		cat "$scratch.jobs"/fuzz-*.log >>"$log" 2>/dev/null
		rm -rf "$scratch.jobs"
	else
		"$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$ART/fuzz_$t-" "$scratch" "$corpus" >"$log" 2>&1
		rc=$?
	fi
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
		awk '{s += $1} END {print s + 0}')
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
	new=$(find "$scratch" -type f | wc -l)
	rm -rf "$scratch"
	if [ $rc -eq 0 ] && ! grep -q -e '^==[0-9]*==ERROR' -e 'runtime error:' "$log"; then
		echo "ok $n - fuzz_$t: ${SECS}s, $execs execs, $cov, $new new inputs, no crash"
	else
		echo "not ok $n - fuzz_$t: exit $rc after $execs execs (log $log)"
		grep -m 20 -e 'ERROR' -e 'runtime error' -e 'SUMMARY' -e 'Test unit written' \
			"$log" | sed 's/^/# /'
		fail=$((fail + 1))
	fi
done
echo "1..$n"
[ $fail -eq 0 ]
