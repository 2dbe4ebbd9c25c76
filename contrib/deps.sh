#!/bin/sh
# Install the Debian packages cdnallow needs to build, test and run its demo, when missing.
# Used by tests/run.sh, contrib/demo/demo.sh and .ci/run. Idempotent; needs root to install.
set -eu
pkgs="meson ninja-build pkg-config gcc clang libclang-rt-14-dev libnftnl-dev libmnl-dev
libcurl4-openssl-dev libcmocka-dev libjson-c-dev libseccomp-dev nftables iptables ipset
fail2ban nginx-light mandoc iprange openssl python3 iproute2 util-linux procps time
ca-certificates valgrind systemd lintian dpkg-dev debhelper bash-completion strace
clang-tidy cppcheck ufw systemd-container debootstrap firewalld libsystemd-dev
libsodium-dev minisign ansible-core"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
# doctor_truth.sh loads the nftables package's /usr/share/doc/nftables/examples/workstation.nft.
# netfilter-persistent and iptables-persistent cannot be installed beside ufw (ufw Breaks
# them: installing either removes ufw, and the other way round). Their .debs are kept here
# instead; tests/integration/netfilter_persistent.sh extracts them and overlays their files
# inside its own mount namespace. Nothing of them is installed or run on the host.
debs=${CDNALLOW_TEST_CACHE:-/var/cache/cdnallow-test}/debs
nfp_debs() { ls "$debs"/netfilter-persistent_*.deb "$debs"/iptables-persistent_*.deb >/dev/null 2>&1; }
[ -z "$missing" ] && nfp_debs && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing or the netfilter-persistent .debs in $debs (run as root)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# fail2ban, nginx and firewalld must not start services on the host during the install (ufw's
# postinst leaves it disabled: ENABLED=no; its tests use a scratch /etc/ufw in a namespace)
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
if [ -n "$missing" ]; then
	echo "deps: installing$missing" >&2
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if ! nfp_debs; then
	echo "deps: downloading netfilter-persistent and iptables-persistent to $debs" >&2
	mkdir -p "$debs"
	(cd "$debs" && apt-get download -qq netfilter-persistent iptables-persistent 2>/dev/null)
	nfp_debs
fi
