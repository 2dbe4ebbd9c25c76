#!/bin/sh
# Install the Debian packages cdnallow needs to build, test and run its demo, when missing.
# Used by tests/run.sh, contrib/demo/demo.sh and .ci/run. Idempotent; needs root to install.
set -eu
pkgs="meson ninja-build pkg-config gcc clang libclang-rt-14-dev libnftnl-dev libmnl-dev
libcurl4-openssl-dev libcmocka-dev libjson-c-dev libseccomp-dev nftables iptables ipset
fail2ban nginx-light mandoc iprange openssl python3 iproute2 util-linux procps time
ca-certificates valgrind systemd lintian dpkg-dev debhelper bash-completion strace
clang-tidy cppcheck ufw systemd-container debootstrap firewalld libsystemd-dev
netfilter-persistent iptables-persistent"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# fail2ban, nginx, firewalld and netfilter-persistent must not start services on the host
# during the install (ufw's postinst leaves it disabled: ENABLED=no; its tests use a scratch
# /etc/ufw in a namespace)
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# iptables-persistent's postinst would save the host's live rules to /etc/iptables/rules.v4
# (its debconf default), which netfilter-persistent.service then loads at every boot: answer
# no, so the install writes no rules file and the service, enabled by the package, has
# nothing to load (its tests use a scratch /etc/iptables in a namespace)
printf '%s\n' 'iptables-persistent iptables-persistent/autosave_v4 boolean false' \
	'iptables-persistent iptables-persistent/autosave_v6 boolean false' | debconf-set-selections
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
