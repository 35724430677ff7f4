# Shell functions shared by ironkit's initramfs programs (busybox sh):
# scripts/build-ephemeral.sh puts this file in /init before the program's
# own body (ironkit-ephemeral.sh, ironkit-deployed.sh). LOG_TAG names the
# program in log lines; TOKEN, when set, goes out as a bearer token.
# HTTP goes through busybox nc (HTTP/1.0; busybox wget crashes in a bare
# initramfs).

# nc_req HOST PORT FORMAT ARG...: sends printf's output to HOST:PORT and
# prints the reply. busybox nc half-closes the connection when its input
# ends, and Go's HTTP server cancels a request whose client did that, so
# nc's input (a fifo) stays open, sending nothing more, until the server
# has answered and closed. (Sending anything more makes the server's close
# a reset, which loses the end of the reply.)
nc_req() {
	h=$1
	p=$2
	shift 2
	rm -f /tmp/nc.in
	mkfifo /tmp/nc.in
	# shellcheck disable=SC2059 # the format is the caller's
	{ printf "$@"; exec sleep 600; } >/tmp/nc.in &
	keep=$!
	nc "$h" "$p" </tmp/nc.in
	rc=$?
	kill "$keep" 2>/dev/null
	return $rc
}

log() { echo "${LOG_TAG:-ironkit}: $*" >&2; }

# Applets the programs use that a minimal initramfs may not link.
for a in head dd sync ln tr cut sed grep nc tee sha256sum umount partprobe blockdev mount wc mkfifo kill hostname; do
	[ -e "/bin/$a" ] || /bin/busybox ln -s busybox "/bin/$a"
done

arg() { # arg NAME: the value of NAME= on the kernel command line
	for w in $(cat /proc/cmdline); do
		case "$w" in "$1="*) echo "${w#*=}"; return 0 ;; esac
	done
	return 1
}

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
	[ -n "${TOKEN:-}" ] && auth="Authorization: Bearer $TOKEN\r\n"
	# Retried while nothing answers (the link may still be coming up).
	for try in 1 2 3 4 5 6 7 8 9 10; do
		nc_req "$host" "$port" "%s %s HTTP/1.0\r\nHost: %s\r\n${auth}Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" \
			"$1" "$path" "$hp" "${#body}" "$body" >/tmp/resp 2>/dev/null
		status=$(head -n 1 /tmp/resp | cut -d' ' -f2)
		[ -n "$status" ] && break
		sleep 1
	done
	tr -d '\r' </tmp/resp | sed '1,/^$/d'
	case "$status" in 2*) return 0 ;; esac
	log "$1 $2: HTTP ${status:-none}: $(tr -d '\r' </tmp/resp | sed '1,/^$/d' | head -c 300)"
	return 1
}

# fetch URL DEST: streams a body to DEST (a disk), headers stripped; the
# body's SHA-256 goes to /tmp/fetched.sha256.
fetch() {
	u=${1#http://}
	hp=${u%%/*}
	path=/${u#*/}
	host=${hp%:*}
	port=${hp##*:}
	[ "$port" = "$hp" ] && port=80
	nc_req "$host" "$port" 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hp" 2>/dev/null | {
		read -r line
		case "$line" in *" 200 "*) ;; *) log "GET $1: $line"; exit 1 ;; esac
		while read -r line; do [ "$line" = "$(printf '\r')" ] || [ -z "$line" ] && break; done
		tee "$2" | sha256sum | cut -d' ' -f1 >/tmp/fetched.sha256
	}
}

# json_str FILE KEY: the string value of "KEY" in a flat JSON document.
json_str() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1"; }
