#!/bin/sh
# ironkit's ephemeral environment (busybox sh). Runs as the body of /init
# after /proc, /sys and /dev are mounted and the NIC drivers are loaded.
# It reads what to do from the kernel command line the rack rendered
# (package pxe): ironkit.purpose=enlist|commission|deploy|rescue,
# ironkit.metadata_url= (the metadata root for enlist, the machine's own
# …/api/v1/metadata/<system_id> otherwise), ironkit.token=, BOOTIF=,
# ironkit.erase=1, ironkit.test=1, ironkit.rack_url= (the booting rack's
# HTTP boot base URL, for a deployment), and optionally ironkit.ip=CIDR
# and ironkit.gw= for a static address instead of DHCP.
# scripts/ephemeral/lib.sh (log, arg, http, fetch, json_str) comes before
# this body in /init.
#
# A deployment fetches the image from the rack that booted it
# (<ironkit.rack_url>/<image_path of the deploy instructions>, from the
# rack's image cache) and, when the rack does not have it (not synced yet,
# image cache off, another SHA-256), from the region (image_url), logging
# which; it writes the image to the boot disk (verifying its SHA-256),
# then, when the image's first partition is FAT (the ESP of the images
# scripts/build-deployed-image.sh builds), writes the cloud-init NoCloud
# seed to /nocloud on it: meta-data, user-data, network-config (netplan v2
# as JSON) and "ironkit" (metadata_url= and token=, for the installed
# system's "booted" signal, as cloud-init's phone-home would).

LOG_TAG=ironkit-ephemeral
PURPOSE=$(arg ironkit.purpose)
MD=$(arg ironkit.metadata_url)
MD=${MD%/} # rackd renders the enlist root with a trailing slash
TOKEN=$(arg ironkit.token)

netup() {
	for n in /sys/class/net/*; do
		i=${n##*/}
		[ "$i" = lo ] || ip link set "$i" up
	done
	ip link set lo up
	if ip=$(arg ironkit.ip); then
		ip addr add "$ip" dev eth0 || return 1
		if gw=$(arg ironkit.gw); then ip route add default via "$gw"; fi
	else
		udhcpc -i eth0 -n -q -t 10 -s /usr/share/udhcpc/default.script || return 1
	fi
}

macs_json() {
	sep=""
	for n in /sys/class/net/*; do
		[ "${n##*/}" = lo ] && continue
		printf '%s"%s"' "$sep" "$(cat "$n/address")"
		sep=,
	done
}

inventory_json() {
	cores=$(grep -c '^processor' /proc/cpuinfo)
	model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//; s/"//g')
	mem=$(($(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2) / 1024))
	printf '{"cpu":{"count":%d,"model":"%s","architecture":"%s"},"memory_mib":%d,"disks":[' "$cores" "$model" "$(uname -m)" "$mem"
	sep=""
	for b in /sys/block/*; do
		d=${b##*/}
		[ -e "$b/size" ] || continue # no block devices: the glob stays unexpanded
		case "$d" in loop* | ram* | sr* | fd* | zram*) continue ;; esac
		printf '%s{"name":"%s","size_bytes":%d,"model":"%s","serial":"%s"}' "$sep" "$d" $(($(cat "$b/size") * 512)) \
			"$(cat "$b/device/model" 2>/dev/null | sed 's/ *$//')" "$(cat "$b/serial" 2>/dev/null)"
		sep=,
	done
	printf '],"nics":['
	sep=""
	for n in /sys/class/net/*; do
		i=${n##*/}
		[ "$i" = lo ] && continue
		printf '%s{"name":"%s","mac":"%s"}' "$sep" "$i" "$(cat "$n/address")"
		sep=,
	done
	printf '],"firmware":{'
	sep=""
	for f in product_uuid:system_uuid product_serial:serial sys_vendor:vendor product_name:product bios_version:bios_version; do
		v=$(cat "/sys/class/dmi/id/${f%%:*}" 2>/dev/null | sed 's/"//g')
		printf '%s"%s":"%s"' "$sep" "${f#*:}" "$v"
		sep=,
	done
	printf '}}'
}

# seed DISK: the NoCloud seed on the installed image's first partition,
# when it is FAT; an image without one gets none (logged).
seed() {
	blockdev --rereadpt "/dev/$1" 2>/dev/null || partprobe "/dev/$1" 2>/dev/null
	case "$1" in *[0-9]) part=/dev/${1}p1 ;; *) part=/dev/${1}1 ;; esac
	for i in 1 2 3 4 5; do [ -b "$part" ] && break; sleep 1; done
	mkdir -p /target
	if ! mount -t vfat "$part" /target 2>/dev/null; then
		log "no FAT first partition on /dev/$1: no NoCloud seed written"
		return 0
	fi
	mkdir -p /target/nocloud
	http GET "$MD/nocloud/meta-data" >/target/nocloud/meta-data
	http GET "$MD/nocloud/user-data" >/target/nocloud/user-data
	sed -n 's/.*"network_config":\(.*\),"user_data":.*/\1/p' /tmp/deploy >/target/nocloud/network-config
	printf 'metadata_url=%s\ntoken=%s\n' "$MD" "$TOKEN" >/target/nocloud/ironkit
	umount /target
	log "NoCloud seed written to $part"
}

heartbeat() { http POST "$MD/heartbeat" >/dev/null; }

signal() { http POST "$MD/signal" "{\"status\":\"$1\",\"log\":\"$2\"}" >/dev/null; }

finish() { # the region powers us off; power off ourselves if it does not
	log "done: $1"
	sleep "${2:-0}"
	poweroff -f
}

log "purpose=$PURPOSE metadata=$MD"
netup || { log "no network"; finish failed-network; }
case "$PURPOSE" in
enlist)
	if http POST "$MD/enlist" "{\"architecture\":\"amd64/generic\",\"mac_addresses\":[$(macs_json)]}" >/tmp/enlisted; then
		log "enlisted: $(cat /tmp/enlisted | sed -n 's/.*"system_id":"\([^"]*\)".*/\1/p')"
	fi
	finish enlist
	;;
commission)
	heartbeat
	if [ -n "$(arg ironkit.erase)" ]; then
		for b in /sys/block/*; do
			d=${b##*/}
			[ -e "$b/size" ] || continue
			case "$d" in loop* | ram* | sr* | fd* | zram*) continue ;; esac
			dd if=/dev/zero of="/dev/$d" bs=1M count=16 2>/dev/null
		done
		heartbeat
		signal erased ""
	elif [ -n "$(arg ironkit.test)" ]; then
		signal tested "busybox environment up"
	else
		http GET "$MD/commissioning-scripts" >/dev/null
		inv=$(inventory_json)
		heartbeat
		http POST "$MD/commissioning-result" "{\"inventory\":$inv,\"log\":\"ironkit ephemeral busybox inventory\"}" >/dev/null &&
			log "commissioning result posted"
	fi
	finish "$PURPOSE" 30
	;;
deploy)
	heartbeat
	http GET "$MD/deploy" >/tmp/deploy || finish failed-deploy
	url=$(json_str /tmp/deploy image_url)
	want=$(json_str /tmp/deploy image_sha256)
	disk=$(json_str /tmp/deploy boot_disk)
	# The rack that booted us first (its image cache), the region second.
	log "writing the image to /dev/$disk"
	if fetch_image "$(arg ironkit.rack_url)" "$(json_str /tmp/deploy image_path)" "$url" "$want" "/dev/$disk"; then
		url=$FETCHED_FROM
		sync
		got=$(cat "$TMPD/fetched.sha256")
		if [ -n "$want" ] && [ "$got" != "$want" ]; then
			signal failed "image $url: sha256 $got, the region said $want"
			finish failed-deploy
		fi
		heartbeat
		seed "$disk"
		sync
		signal installed "image written to /dev/$disk (sha256 $got)"
		log "installed; rebooting"
		reboot -f
	fi
	signal failed "could not write $url to /dev/$disk"
	finish failed-deploy
	;;
rescue)
	signal booted "rescue environment up"
	while :; do sleep 3600; done
	;;
*)
	log "unknown purpose '$PURPOSE'"
	finish unknown
	;;
esac
