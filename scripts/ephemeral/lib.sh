# Shell functions shared by ironkit's initramfs programs (busybox sh):
# scripts/build-ephemeral.sh puts this file in /init before the program's
# own body (ironkit-ephemeral.sh, ironkit-deployed.sh). LOG_TAG names the
# program in log lines; TOKEN, when set, goes out as a bearer token.
# HTTP goes through busybox nc (HTTP/1.0; busybox wget crashes in a bare
# initramfs). Scratch files go to $TMPD (/tmp; IRONKIT_TMP overrides it,
# and IRONKIT_LIB_HOST=1 skips the applet links below: what the host-side
# test of fetch_image, internal/e2e's TestFetchImageFallback, sets).

TMPD=${IRONKIT_TMP:-/tmp}

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
	rm -f "$TMPD/nc.in"
	mkfifo "$TMPD/nc.in"
	# shellcheck disable=SC2059 # the format is the caller's
	{ printf "$@"; exec sleep 600; } >"$TMPD/nc.in" &
	keep=$!
	nc "$h" "$p" <"$TMPD/nc.in"
	rc=$?
	kill "$keep" 2>/dev/null
	return $rc
}

log() { echo "${LOG_TAG:-ironkit}: $*" >&2; }

# Applets the programs use that a minimal initramfs may not link.
if [ -z "${IRONKIT_LIB_HOST:-}" ]; then
	for a in head dd sync ln tr cut sed grep nc tee sha256sum umount partprobe blockdev mount wc mkfifo kill hostname; do
		[ -e "/bin/$a" ] || /bin/busybox ln -s busybox "/bin/$a"
	done
fi

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
			"$1" "$path" "$hp" "${#body}" "$body" >"$TMPD/resp" 2>/dev/null
		status=$(head -n 1 "$TMPD/resp" | cut -d' ' -f2)
		[ -n "$status" ] && break
		sleep 1
	done
	tr -d '\r' <"$TMPD/resp" | sed '1,/^$/d'
	case "$status" in 2*) return 0 ;; esac
	log "$1 $2: HTTP ${status:-none}: $(tr -d '\r' <"$TMPD/resp" | sed '1,/^$/d' | head -c 300)"
	return 1
}

# fetch URL DEST: streams a body to DEST (a disk), headers stripped; the
# body's SHA-256 goes to $TMPD/fetched.sha256.
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
		tee "$2" | sha256sum | cut -d' ' -f1 >"$TMPD/fetched.sha256"
	}
}

# fetch_image RACK_URL IMAGE_PATH URL SHA256 DEST: writes a deployment's
# image to DEST from the rack that booted the machine (RACK_URL/IMAGE_PATH,
# the rack's image cache) when both are set, the rack has it and its
# SHA-256 is SHA256 (or SHA256 is empty); otherwise from URL (the region).
# Logs which it used, sets FETCHED_FROM to that URL (the body's SHA-256 is
# in $TMPD/fetched.sha256) and returns 1 when neither could be fetched.
fetch_image() {
	FETCHED_FROM=""
	if [ -n "$1" ] && [ -n "$2" ]; then
		src="${1%/}/${2#/}"
		if ! fetch "$src" "$5"; then
			log "the rack does not have the image ($src): falling back to the region"
		elif [ -n "$4" ] && [ "$(cat "$TMPD/fetched.sha256")" != "$4" ]; then
			log "the rack's $src has sha256 $(cat "$TMPD/fetched.sha256"), not $4: falling back to the region"
		else
			FETCHED_FROM=$src
			log "image from the rack: $src"
			return 0
		fi
	fi
	fetch "$3" "$5" || return 1
	FETCHED_FROM=$3
	log "image from the region: $3"
}

# json_str FILE KEY: the string value of "KEY" in a flat JSON document.
json_str() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" "$1"; }
