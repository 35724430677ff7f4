#!/bin/bash
# CPU per TFTP block, server and client, for ironkit, tftpd-hpa and the
# lock-step ceiling (pxe/bench/lockstep), with atftp blksize 1468 over a veth
# between two network namespaces this script creates (10.95.0.0/24) and
# removes. Root; needs perf, atftp, in.tftpd (tftpd-hpa), go.
#
#   pxe/bench/tftp-cpu.sh [RUNS] [CLIENTS]     (defaults 7 and 20)
#
# For each server: median MB/s of RUNS interleaved runs of one client
# fetching 64 MiB, then of CLIENTS concurrent clients fetching 16 MiB each;
# the server's and the clients' CPU time per block (perf stat task-clock,
# children included: tftpd-hpa forks per transfer). Wall time per block is
# what lock-step pays; CPU per block is what the figures rest on, as it moves
# much less than wall time when the machine is shared.
set -euo pipefail
RUNS=${1:-7}
CLIENTS=${2:-20}
for b in perf atftp in.tftpd ip; do
	command -v "$b" >/dev/null || { echo "tftp-cpu: needs $b (perf: apt-get install linux-perf; atftp; tftpd-hpa; iproute2)" >&2; exit 1; }
done
cd "$(dirname "$0")/../.."
W=$(mktemp -d)
S=tftpcpu-s-$$ C=tftpcpu-c-$$
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	ip netns del "$S" 2>/dev/null || true
	ip netns del "$C" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
"${GO:-go}" build -o "$W/lockstep" ./pxe/bench/lockstep
"${GO:-go}" build -o "$W/tftpserve" ./pxe/bench/tftpserve
mkdir "$W/root"
head -c $((64 << 20)) /dev/urandom >"$W/root/big.bin"
head -c $((16 << 20)) "$W/root/big.bin" >"$W/root/small.bin"
ip netns add "$S"
ip netns add "$C"
ip link add tcpu$$a type veth peer name tcpu$$b
ip link set tcpu$$a netns "$S"
ip link set tcpu$$b netns "$C"
ip -n "$S" addr add 10.95.0.1/24 dev tcpu$$a
ip -n "$C" addr add 10.95.0.2/24 dev tcpu$$b
for n in "$S" "$C"; do ip -n "$n" link set lo up; done
ip -n "$S" link set tcpu$$a up
ip -n "$C" link set tcpu$$b up

ip netns exec "$S" in.tftpd --foreground --secure --address 10.95.0.1:2069 --blocksize 65464 "$W/root" &
PIDS+=($!); declare -A PID=([tftpd-hpa]=$! )
ip netns exec "$S" "$W/lockstep" -addr 10.95.0.1:4069 -dir "$W/root" &
PIDS+=($!); PID[lockstep]=$!
ip netns exec "$S" "$W/tftpserve" -addr 10.95.0.1:1069 -dir "$W/root" &
PIDS+=($!); PID[ironkit]=$!
declare -A PORT=([tftpd-hpa]=2069 [lockstep]=4069 [ironkit]=1069)
sleep 1

# one NAME FILE N: N concurrent clients fetch FILE; appends "NAME MB/s srvµs cliµs wallµs"
one() {
	local name=$1 file=$2 n=$3 size blocks
	size=$(stat -c %s "$W/root/$file")
	blocks=$((n * (size / 1468 + 1)))
	perf stat -x, -e task-clock -o "$W/srv" -p "${PID[$name]}" -- \
		perf stat -x, -e task-clock -o "$W/cli" -- \
		bash -c 's=$(date +%s%N); for i in $(seq '"$n"'); do ip netns exec '"$C"' atftp --get -r '"$file"' -l /dev/null --option "blksize 1468" 10.95.0.1 '"${PORT[$name]}"' >/dev/null 2>&1 || echo "atftp failed" >&2 & done; wait; echo $(( $(date +%s%N) - s )) >'"$W/wall"
	python3 - "$name" "$n" "$size" "$blocks" "$W" >>"$W/rows.$file" <<'PY'
import sys
name, n, size, blocks, w = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ns = int(open(w + "/wall").read())
cpu = lambda f: float([l for l in open(f) if "task-clock" in l][0].split(",")[0])  # ms
print(name, n * size / ns * 1e3, cpu(w + "/srv") * 1e3 / blocks, cpu(w + "/cli") * 1e3 / blocks, ns / 1e3 / blocks * n)
PY
}
for r in $(seq "$RUNS"); do
	for s in ironkit tftpd-hpa lockstep; do one $s big.bin 1; done
done
for r in $(seq $(( (RUNS + 1) / 2 ))); do
	for s in ironkit tftpd-hpa lockstep; do one $s small.bin "$CLIENTS"; done
done
python3 - "$W" "$RUNS" "$CLIENTS" <<'PY'
import sys, statistics as st
w, runs, clients = sys.argv[1], sys.argv[2], sys.argv[3]
for f, title in (("big.bin", f"1 client, 64 MiB, median of {runs}"), ("small.bin", f"{clients} clients x 16 MiB, aggregate")):
    rows = {}
    for l in open(f"{w}/rows.{f}"):
        n, *v = l.split()
        rows.setdefault(n, []).append([float(x) for x in v])
    ref = st.median(r[0] for r in rows["tftpd-hpa"])
    print(f"{title}:")
    print(f"  {'server':10s} {'MB/s':>6s} {'ratio':>6s}  {'srv CPU':>8s} {'cli CPU':>8s} {'wall':>8s} (µs per block)   runs MB/s")
    for n, r in rows.items():
        m = [st.median(x[i] for x in r) for i in range(4)]
        print(f"  {n:10s} {m[0]:6.1f} {m[0]/ref:5.2f}x  {m[1]:8.1f} {m[2]:8.1f} {m[3]:8.1f}   {' '.join('%.0f' % x[0] for x in r)}")
PY
