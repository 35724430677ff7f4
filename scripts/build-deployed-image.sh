#!/usr/bin/env bash
# Builds ironkit's deployed test image: a small raw disk image that boots on
# BIOS and UEFI and runs scripts/ephemeral/ironkit-deployed.sh (which reads
# the NoCloud seed the ephemeral environment wrote and signals "booted").
#
#   scripts/build-deployed-image.sh OUT      → OUT/deployed.img
#
# Layout (16 MiB): GPT with one EFI system partition (FAT16, label
# IRONKIT, from 1 MiB, attribute LegacyBIOSBootable) holding
#   /vmlinuz, /initrd.img        Debian's kernel; busybox initrd whose /init
#                                is ironkit-deployed.sh (build-ephemeral.sh)
#   /syslinux.cfg, ldlinux.*     BIOS: SYSLINUX; the MBR is syslinux's
#                                gptmbr.bin, which boots the partition
#                                marked LegacyBIOSBootable
#   /EFI/BOOT/BOOTX64.EFI        UEFI: a GRUB image (grub-mkimage) with its
#                                config built in, found by OVMF's removable
#                                media path and by the rack's GRUB "local"
#                                config (which chainloads it)
#   /ironkit-deployed            marker the loaders search for
# The ephemeral environment writes /nocloud/* onto this partition.
#
# Needs (Debian): fdisk (sfdisk), dosfstools (mkfs.vfat), mtools, syslinux,
# syslinux-common, grub-efi-amd64-bin, grub-common, and what
# scripts/build-ephemeral.sh needs. No root, no loop devices.
set -euo pipefail

out=${1:?usage: build-deployed-image.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
for c in sfdisk mkfs.vfat mcopy mmd syslinux grub-mkimage; do
	command -v "$c" >/dev/null || {
		echo "build-deployed-image: $c missing: apt-get install fdisk dosfstools mtools syslinux grub-efi-amd64-bin" >&2
		exit 1
	}
done
gptmbr=/usr/lib/syslinux/mbr/gptmbr.bin
grubmods=/usr/lib/grub/x86_64-efi
[ -f "$gptmbr" ] || { echo "build-deployed-image: $gptmbr missing: apt-get install syslinux-common" >&2; exit 1; }
[ -f "$grubmods/linux.mod" ] || { echo "build-deployed-image: $grubmods missing: apt-get install grub-efi-amd64-bin" >&2; exit 1; }

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

IRONKIT_INIT_SCRIPT=$here/ephemeral/ironkit-deployed.sh "$here/build-ephemeral.sh" "$work/os" >/dev/null

cmdline="console=ttyS0,115200n8 quiet panic=-1 ironkit.deployed=1"
cat >"$work/syslinux.cfg" <<CFG
DEFAULT deployed
PROMPT 0
TIMEOUT 0
LABEL deployed
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND $cmdline
CFG
cat >"$work/grub.cfg" <<CFG
search --no-floppy --set=root --file /ironkit-deployed
set timeout=0
linux /vmlinuz $cmdline
initrd /initrd.img
boot
CFG
grub-mkimage -O x86_64-efi -d "$grubmods" -p /EFI/BOOT -c "$work/grub.cfg" -o "$work/BOOTX64.EFI" \
	part_gpt fat search search_fs_file linux boot echo normal configfile
echo "ironkit deployed test image, built $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$work/ironkit-deployed"

disk=$work/deployed.img
part=$work/part.img
start=2048               # sectors (1 MiB)
size=$(((16 - 2) * 2048)) # leaves room for the backup GPT
truncate -s 16M "$disk"
sfdisk -q "$disk" <<SFDISK
label: gpt
start=$start, size=$size, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="IRONKIT", attrs="LegacyBIOSBootable"
SFDISK
truncate -s $((size * 512)) "$part"
mkfs.vfat -F 16 -n IRONKIT -h "$start" "$part" >/dev/null
export MTOOLS_SKIP_CHECK=1
mcopy -i "$part" "$work/os/vmlinuz" "$work/os/initrd.img" "$work/syslinux.cfg" "$work/ironkit-deployed" ::/
mmd -i "$part" ::/EFI ::/EFI/BOOT
mcopy -i "$part" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
dd if="$part" of="$disk" bs=512 seek="$start" conv=notrunc status=none
# SYSLINUX into the partition (boot sector patched for its offset), then
# the GPT-aware MBR boot code (the first 440 bytes; the table stays).
syslinux --offset $((start * 512)) --install "$disk"
dd if="$gptmbr" of="$disk" bs=440 count=1 conv=notrunc status=none
cp "$disk" "$out/deployed.img.tmp"
mv "$out/deployed.img.tmp" "$out/deployed.img"
echo "build-deployed-image: $out/deployed.img ($(du -h "$out/deployed.img" | cut -f1), sha256 $(sha256sum "$out/deployed.img" | cut -c1-16)…)"
