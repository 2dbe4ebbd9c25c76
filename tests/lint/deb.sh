#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the Debian package from a copy of the source tree (contrib/debian as debian/), lists
# it, checks its files and conffiles, and runs lintian: errors and warnings fail (documented
# overrides live in contrib/debian/cdnallow.lintian-overrides and
# contrib/debian/source/lintian-overrides). Slow: a full build.
set -u
src=${CDNALLOW_SRC:?}
echo 1..4
for p in dpkg-buildpackage dh lintian; do
	if ! command -v $p >/dev/null 2>&1; then
		[ "${CI:-}" = true ] && { echo "not ok 1 - $p not installed"; exit 1; }
		echo "1..0 # SKIP $p not installed (debhelper, dpkg-dev, lintian)"
		exit 77
	fi
done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
version=$(sed -n '1s/^cdnallow (\([^)]*\)).*/\1/p' "$src/contrib/debian/changelog")
tree="$tmp/cdnallow-$version"
mkdir "$tree"
# the source tree without build directories or VCS data
(cd "$src" && tar --exclude='./build*' --exclude='./obj-*' --exclude=./.git \
	--exclude=./debian -cf - .) | tar -C "$tree" -xf - || exit 1
cp -r "$tree/contrib/debian" "$tree/debian"
if ! (cd "$tree" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) \
	>"$tmp/build.log" 2>&1; then
	tail -n 60 "$tmp/build.log" | sed 's/^/# /'
	echo "not ok 1 - dpkg-buildpackage -us -uc -b"
	exit 1
fi
echo "ok 1 - dpkg-buildpackage -us -uc -b"
fail=0
deb=$(ls "$tmp"/cdnallow_"$version"_*.deb)
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's,^\.,,' >"$tmp/files"
sed 's/^/# /' "$tmp/files"
missing=
for f in /usr/sbin/cdnallow /etc/cdnallow/cdnallow.conf /usr/share/man/man8/cdnallow.8.gz \
	/usr/share/man/man5/cdnallow.conf.5.gz /lib/systemd/system/cdnallow.service \
	/lib/systemd/system/cdnallow.timer /lib/systemd/system/cdnallow-restore.service \
	/usr/share/bash-completion/completions/cdnallow \
	/usr/share/netfilter-persistent/plugins.d/14-cdnallow-sets \
	/usr/share/netfilter-persistent/plugins.d/35-cdnallow \
	/usr/share/doc/cdnallow/examples/cdnallow.conf.example \
	/usr/share/doc/cdnallow/copyright; do
	grep -qx "$f" "$tmp/files" || missing="$missing $f"
done
# netfilter-persistent runs its plugins with run-parts: only executable ones
notexec=$(dpkg-deb -c "$deb" | awk '$6 ~ /plugins\.d\/./ && $1 != "-rwxr-xr-x" { print $6 }')
[ -n "$notexec" ] && missing="$missing (not executable: $notexec)"
conffiles=$(dpkg-deb -I "$deb" conffiles 2>/dev/null)
# the snapshot signatures need libsodium at run time (through shlibs:Depends)
depends=$(dpkg-deb -f "$deb" Depends)
case $depends in
*libsodium*) ;;
*) missing="$missing (Depends without libsodium: $depends)" ;;
esac
if [ -n "$missing" ] || [ "$conffiles" != /etc/cdnallow/cdnallow.conf ]; then
	echo "not ok 2 - package contents: missing:${missing:- none}; conffiles: $conffiles"
	fail=1
else
	echo "ok 2 - package holds binary, man pages, units, completion, netfilter-persistent plugins; conffile $conffiles; Depends has libsodium"
fi
changes=$(ls "$tmp"/cdnallow_"$version"_*.changes)
if lintian --fail-on error,warning --display-info "$changes" >"$tmp/lintian" 2>&1; then
	sed 's/^/# /' "$tmp/lintian"
	echo "ok 3 - lintian (no errors or warnings)"
else
	sed 's/^/# /' "$tmp/lintian"
	echo "not ok 3 - lintian"
	fail=1
fi
# 4. it installs: dpkg -i, the installed binary runs and accepts the shipped config, then
# the package is purged again (it enables and starts nothing). A host that already has a
# cdnallow package gets the extracted binary checked instead of a reinstall.
if dpkg-query -W -f='${Status}' cdnallow 2>/dev/null | grep -q "install ok installed"; then
	dpkg-deb -x "$deb" "$tmp/x" && "$tmp/x/usr/sbin/cdnallow" --version >"$tmp/inst" 2>&1
	ok=$?
	how="extracted (a cdnallow package is already installed here)"
else
	ok=1
	if dpkg -i "$deb" >"$tmp/inst" 2>&1 && /usr/sbin/cdnallow --version >>"$tmp/inst" 2>&1 &&
		/usr/sbin/cdnallow -c /etc/cdnallow/cdnallow.conf check >>"$tmp/inst" 2>&1; then
		ok=0
	fi
	dpkg --purge cdnallow >>"$tmp/inst" 2>&1 || ok=1
	[ -e /usr/sbin/cdnallow ] && ok=1
	how="dpkg -i, cdnallow --version and check, dpkg --purge"
fi
sed 's/^/# /' "$tmp/inst"
if [ "$ok" = 0 ]; then
	echo "ok 4 - the package installs and runs: $how"
else
	echo "not ok 4 - the package installs and runs: $how"
	fail=1
fi
exit $fail
