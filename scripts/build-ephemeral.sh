#!/usr/bin/env bash
# Builds ironkit's ephemeral environment from Debian packages: the kernel of
# linux-image-amd64, busybox-static, the NIC, disk and FAT modules, and
# scripts/ephemeral/lib.sh + scripts/ephemeral/ironkit-ephemeral.sh as
# /init's body. Writes OUT/vmlinuz and OUT/initrd.img (serve them as the
# rack's ephemeral/amd64/vmlinuz and ephemeral/amd64/initrd.img).
#
#   scripts/build-ephemeral.sh OUT
#
# IRONKIT_INIT_SCRIPT=FILE puts FILE after lib.sh instead (what
# scripts/build-deployed-image.sh does for the deployed system's initrd).
# The downloaded kernel package is kept in $IRONKIT_TEST_CACHE/debs
# (default /var/cache/ironkit-test/debs) when that directory is writable.
#
# Needs apt-get (download only), dpkg, cpio, gzip and busybox-static.
set -euo pipefail

out=${1:?usage: build-ephemeral.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
work=$(mktemp -d)
chmod 755 "$work" # apt-get download runs as _apt
trap 'rm -rf "$work"' EXIT

busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! { ldd "$busybox" 2>&1 || true; } | grep -qE 'not a dynamic|statically'; then
	echo "build-ephemeral: install busybox-static (apt-get install busybox-static)" >&2
	exit 1
fi

pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n1)
[ -n "$pkg" ] || { echo "build-ephemeral: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2; exit 1; }
cache=${IRONKIT_TEST_CACHE:-/var/cache/ironkit-test}/debs
deb=$(ls "$cache"/"$pkg"_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
	(cd "$work" && apt-get download -q "$pkg" >/dev/null)
	deb=$(ls "$work"/"$pkg"_*.deb | head -n1)
	if mkdir -p "$cache" 2>/dev/null && cp "$deb" "$cache/" 2>/dev/null; then :; fi
fi
dpkg -x "$deb" "$work/kernel"
kver=${pkg#linux-image-}
cp "$work/kernel/boot/vmlinuz-$kver" "$out/vmlinuz"
mods=$work/kernel/lib/modules/$kver

root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,etc,lib/modules,usr/share/udhcpc}
cp "$busybox" "$root/bin/busybox"
for a in sh mount insmod ip udhcpc nc cat echo sleep poweroff reboot mkdir ls dmesg grep sed cut tr uname head dd sync printf; do
	ln -s busybox "$root/bin/$a"
done

# Modules and their dependencies (modinfo's depends=), dependencies first.
declare -A seen=()
order=()
add() {
	local m=$1 f
	[ -n "${seen[$m]:-}" ] && return
	seen[$m]=1
	f=$(find "$mods" -name "$m.ko*" | head -n1)
	[ -n "$f" ] || return 0 # built in
	for d in $(modinfo -F depends "$f" | tr ',' ' '); do add "$d"; done
	order+=("$f")
}
for m in virtio_pci virtio_net virtio_blk e1000 e1000e ahci sd_mod vfat nls_cp437 nls_ascii nls_utf8; do add "$m"; done
{
	echo '#!/bin/sh'
	echo 'export PATH=/bin'
	echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
	for f in "${order[@]}"; do
		b=$(basename "$f")
		case "$b" in
		*.ko.xz) xz -dc "$f" >"$root/lib/modules/${b%.xz}" ;;
		*.ko.zst) zstd -qdc "$f" >"$root/lib/modules/${b%.zst}" ;;
		*) cp "$f" "$root/lib/modules/$b" ;;
		esac
		echo "insmod /lib/modules/${b%.ko*}.ko"
	done
	cat "$here/ephemeral/lib.sh" "${IRONKIT_INIT_SCRIPT:-$here/ephemeral/ironkit-ephemeral.sh}"
} >"$root/init"
chmod 755 "$root/init"
cat >"$root/usr/share/udhcpc/default.script" <<'UDHCPC'
#!/bin/sh
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via ${router%% *} dev "$interface"
	;;
esac
UDHCPC
chmod 755 "$root/usr/share/udhcpc/default.script"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$out/initrd.img"
echo "build-ephemeral: $out/vmlinuz ($kver), $out/initrd.img ($(du -h "$out/initrd.img" | cut -f1))"
