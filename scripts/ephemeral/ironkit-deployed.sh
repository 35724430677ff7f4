#!/bin/sh
# The "installed system" of ironkit's deployed test image (busybox sh), the
# body of its initrd's /init after scripts/ephemeral/lib.sh; built by
# scripts/build-deployed-image.sh. It stands in for cloud-init on a real
# image: it finds the NoCloud seed the ephemeral environment wrote to
# /nocloud on the boot disk's FAT partition, sets the hostname from
# meta-data, configures eth0 from network-config (the first static address
# and default route, else DHCP), and phones home: POST signal "booted" to
# the metadata URL with the token from /nocloud/ironkit. Then it idles
# until powered off.

LOG_TAG=ironkit-deployed
log "booted from disk: $(cat /proc/cmdline)"

seed=""
mkdir -p /seed
for i in 1 2 3 4 5 6 7 8 9 10; do
	for b in /sys/class/block/*; do
		p=${b##*/}
		[ -e "$b/partition" ] || continue
		if mount -t vfat -o ro "/dev/$p" /seed 2>/dev/null; then
			if [ -f /seed/nocloud/ironkit ]; then
				seed=/dev/$p
				break 2
			fi
			umount /seed
		fi
	done
	sleep 1
done
if [ -z "$seed" ]; then
	log "no NoCloud seed (/nocloud/ironkit on a FAT partition): nothing to report"
	while :; do sleep 3600; done
fi
MD=$(sed -n 's/^metadata_url=//p' /seed/nocloud/ironkit)
TOKEN=$(sed -n 's/^token=//p' /seed/nocloud/ironkit)
name=$(sed -n 's/^local-hostname: *//p' /seed/nocloud/meta-data)
[ -n "$name" ] && hostname "$name"
log "seed on $seed: hostname ${name:-none}, metadata $MD"

for n in /sys/class/net/*; do
	[ "${n##*/}" = lo ] || ip link set "${n##*/}" up
done
ip link set lo up
addr=$(sed -n 's/.*"addresses":\["\([^"]*\)".*/\1/p' /seed/nocloud/network-config)
gw=$(sed -n 's/.*"via":"\([^"]*\)".*/\1/p' /seed/nocloud/network-config)
if [ -n "$addr" ]; then
	ip addr add "$addr" dev eth0
	[ -n "$gw" ] && ip route add default via "$gw"
	how="static $addr"
else
	udhcpc -i eth0 -n -q -t 10 -s /usr/share/udhcpc/default.script
	how=dhcp
fi
log "network: $how"

for try in 1 2 3 4 5 6; do
	if http POST "$MD/signal" "{\"status\":\"booted\",\"log\":\"ironkit deployed image up, hostname ${name:-none}, network $how\"}" >/dev/null; then
		log "booted signalled"
		break
	fi
	sleep 5
done
while :; do sleep 3600; done
