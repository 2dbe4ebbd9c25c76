#!/bin/sh
# The whole test suite: installs missing build dependencies, builds with warnings as
# errors, runs every test (unit, kernel and integration tests in private network
# namespaces, fuzz corpus replays, lint), then again under ASan+UBSan.
# Usage (as root, from the source tree): tests/run.sh
set -u
cd "$(dirname "$0")/.." || exit 1
contrib/deps.sh || exit 1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
rc=0
meson setup build -Dwerror=true --reconfigure >/dev/null 2>&1 ||
	meson setup build -Dwerror=true || exit 1
meson compile -C build || exit 1
meson test -C build --print-errorlogs --num-processes 2 || rc=1
if [ "${CDNALLOW_SKIP_ASAN:-0}" != 1 ]; then
	meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
		--reconfigure >/dev/null 2>&1 ||
		meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined \
			-Db_lundef=false || exit 1
	meson compile -C build-asan || exit 1
	meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite bench || rc=1
fi
python3 - <<'PY'
import json, os
ok = bad = 0
for d in ("build", "build-asan"):
    p = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(p):
        continue
    for line in open(p):
        r = json.loads(line)["result"]
        ok += r in ("OK", "EXPECTEDFAIL")
        bad += r in ("FAIL", "ERROR", "TIMEOUT", "UNEXPECTEDPASS")
print("%d passed, %d failed" % (ok, bad))
PY
exit $rc
