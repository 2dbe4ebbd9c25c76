#!/bin/sh
# SPDX-License-Identifier: MIT
# Static analysis of src/**/*.c (and the include/ headers they use): cppcheck, then clang-tidy
# with the checks of .clang-tidy over the build dir's compile_commands.json. Any finding
# fails. A missing tool skips (77), or fails under CI=true.
set -u
src=${CDNALLOW_SRC:?}
build=${CDNALLOW_BUILD:?}
echo 1..2
missing=""
for t in cppcheck clang-tidy run-clang-tidy; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
if [ -n "$missing" ]; then
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - cppcheck # not installed:$missing"
		echo "not ok 2 - clang-tidy # not installed:$missing"
		exit 1
	fi
	echo "ok 1 # SKIP not installed:$missing"
	echo "ok 2 # SKIP not installed:$missing"
	exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0

cd "$src" || exit 1
cppcheck --quiet --enable=warning,portability,performance --std=c11 -Iinclude \
	-D_GNU_SOURCE -DHAVE_NFTABLES=1 --suppress=missingIncludeSystem --error-exitcode=1 \
	src/ >"$tmp/cppcheck" 2>&1
rc=$?
sed 's/^/# /' "$tmp/cppcheck"
if [ $rc -ne 0 ] || [ -s "$tmp/cppcheck" ]; then
	echo "not ok 1 - cppcheck src/ (status $rc)"
	status=1
else
	echo "ok 1 - cppcheck src/"
fi

if [ ! -f "$build/compile_commands.json" ]; then
	echo "not ok 2 - clang-tidy: no $build/compile_commands.json"
	exit 1
fi
# run-clang-tidy matches its regex against absolute paths: only src/**/*.c of this tree.
re=$(pwd | sed 's/[].[^$*+?(){}|\\]/\\&/g')
# clang-tidy exits 0 on warnings: count the diagnostics instead (colours stripped).
run-clang-tidy -p "$build" -quiet -header-filter="^$re/include/" \
	-extra-arg=-Wno-unknown-warning-option "^$re/src/.*\.c\$" >"$tmp/tidy" 2>&1
rc=$?
sed 's/\x1b\[[0-9;]*m//g' "$tmp/tidy" >"$tmp/tidy.txt"
grep -E ':[0-9]+:[0-9]+: (warning|error):' "$tmp/tidy.txt" >"$tmp/found"
if [ $rc -ne 0 ] || [ -s "$tmp/found" ]; then
	# the findings with their notes; not the list of commands it ran
	grep -v -E 'clang-tidy.* -p|^[0-9]+ warnings? generated' "$tmp/tidy.txt" |
		sed 's/^/# /'
	echo "not ok 2 - clang-tidy src/**/*.c: $(wc -l <"$tmp/found") finding(s) (status $rc)"
	status=1
else
	# a regex that matched nothing would pass silently: it prints one command per file
	n=$(grep -c -E "clang-tidy.* [^ ]*/src/[^ ]*\.c\$" "$tmp/tidy.txt")
	if [ "$n" -eq 0 ]; then
		sed 's/^/# /' "$tmp/tidy.txt"
		echo "not ok 2 - clang-tidy checked no file"
		status=1
	else
		echo "ok 2 - clang-tidy src/**/*.c ($n files)"
	fi
fi
exit $status
