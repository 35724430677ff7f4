#!/usr/bin/env bash
# Installs the Debian packages the tests drive (real DHCP/TFTP clients and
# servers, PostgreSQL, BMC simulators, QEMU). Only when root and only what is
# missing; without root it lists what is missing and the tests that need those
# tools skip with a message naming them.
set -uo pipefail

PKGS=(
  postgresql
  kea-dhcp4-server kea-admin isc-dhcp-server isc-dhcp-client udhcpc isc-dhcp-relay
  busybox-static dnsmasq
  tftpd-hpa tftp-hpa atftp curl nginx
  qemu-system-x86 ipxe-qemu ipxe ovmf
  openipmi ipmitool
  kmod iproute2 tcpdump cpio wrk
  pxelinux syslinux syslinux-common grub-efi-amd64-bin mtools dosfstools fdisk
  chromium chromium-driver
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "test-deps: not root; missing packages (tests needing them will skip): ${missing[*]}"
  exit 0
fi
echo "test-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Daemons from these packages must not start on install: the tests start
# their own instances on loopback or inside network namespaces.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq || echo "test-deps: apt-get update failed; trying the cached lists"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/ironkit-apt.log 2>&1 || {
  echo "test-deps: apt-get install failed; last lines of /tmp/ironkit-apt.log:"; tail -20 /tmp/ironkit-apt.log; exit 1; }
echo "test-deps: installed"
