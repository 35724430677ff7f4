#!/bin/sh
# ironkit's ephemeral environment (busybox sh). Runs as the body of /init
# after /proc, /sys and /dev are mounted and the NIC drivers are loaded.
# It reads what to do from the kernel command line the rack rendered
# (package pxe): ironkit.purpose=enlist|commission|deploy|rescue,
# ironkit.metadata_url= (the metadata root for enlist, the machine's own
# …/api/v1/metadata/<system_id> otherwise), ironkit.token=, BOOTIF=,
# ironkit.erase=1, ironkit.test=1, and optionally ironkit.ip=CIDR and
# ironkit.gw= for a static address instead of DHCP.
# HTTP goes through busybox nc (HTTP/1.0; busybox wget crashes in a bare
# initramfs).

log() { echo "ironkit-ephemeral: $*" >&2; }

# Applets this script uses that a minimal initramfs may not link.
for a in head dd sync ln tr cut sed grep nc; do
	[ -e "/bin/$a" ] || /bin/busybox ln -s busybox "/bin/$a"
done

arg() { # arg NAME: the value of NAME= on the kernel command line
	for w in $(cat /proc/cmdline); do
		case "$w" in "$1="*) echo "${w#*=}"; return 0 ;; esac
	done
	return 1
}

PURPOSE=$(arg ironkit.purpose)
MD=$(arg ironkit.metadata_url)
TOKEN=$(arg ironkit.token)

# http METHOD URL [BODY]: prints the response body; returns 1 unless 2xx.
http() {
	u=${2#http://}
	hp=${u%%/*}
	path=/${u#*/}
	[ "$path" = "/$u" ] && path=/
	host=${hp%:*}
	port=${hp##*:}
	[ "$port" = "$hp" ] && port=80
	body=${3:-}
	auth=""
	[ -n "$TOKEN" ] && auth="Authorization: Bearer $TOKEN\r\n"
	# Retried while nothing answers (the link may still be coming up).
	for try in 1 2 3 4 5 6 7 8 9 10; do
		printf "%s %s HTTP/1.0\r\nHost: %s\r\n${auth}Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" \
			"$1" "$path" "$hp" "${#body}" "$body" | nc "$host" "$port" >/tmp/resp 2>/dev/null
		status=$(head -n 1 /tmp/resp | cut -d' ' -f2)
		[ -n "$status" ] && break
		sleep 1
	done
	tr -d '\r' </tmp/resp | sed '1,/^$/d'
	case "$status" in 2*) return 0 ;; esac
	log "$1 $2: HTTP ${status:-none}: $(tr -d '\r' </tmp/resp | sed '1,/^$/d' | head -c 300)"
	return 1
}

# fetch URL DEST: streams a body to DEST (a disk), headers stripped.
fetch() {
	u=${1#http://}
	hp=${u%%/*}
	path=/${u#*/}
	host=${hp%:*}
	port=${hp##*:}
	[ "$port" = "$hp" ] && port=80
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" | nc "$host" "$port" | {
		read -r line
		case "$line" in *" 200 "*) ;; *) log "GET $1: $line"; exit 1 ;; esac
		while read -r line; do [ "$line" = "$(printf '\r')" ] || [ -z "$line" ] && break; done
		cat >"$2"
	}
}

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
	url=$(sed -n 's/.*"image_url":"\([^"]*\)".*/\1/p' /tmp/deploy)
	disk=$(sed -n 's/.*"boot_disk":"\([^"]*\)".*/\1/p' /tmp/deploy)
	log "writing $url to /dev/$disk"
	if fetch "$url" "/dev/$disk"; then
		heartbeat
		sync
		signal installed "image written to /dev/$disk"
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
