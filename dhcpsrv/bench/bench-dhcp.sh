#!/usr/bin/env bash
# make bench-dhcp: perfdhcp rate steps against ironkit's dhcpsrv (alone and
# with a hot-standby failover partner), Kea 2.2 (memfile persist=true,
# single-threaded) and ISC dhcpd 4.4, in the same run and topology:
#
#   [ns cli: perfdhcp, cli0 10.70.0.2..9/16] --veth-- [ns srv: server, srv0 10.70.0.1/16]
#                                                      [srv peer0 10.71.0.1/24] --veth-- [ns peer: partner 10.71.0.2/24]
#
# perfdhcp acts as a relay (giaddr = its own address) and sends to
# 10.70.0.1; the pool is a /16 so it never runs dry.
#
# Making the measurement trustworthy on a small shared machine (see
# dhcpsrv/README.md, "Method"):
#   - CPU pinning: every server process (ironkit, its partner, Kea, dhcpd)
#     runs on the same one core (SRV_CPU, taskset); perfdhcp runs on another
#     (CLI_CPU). Kea is single-threaded; ironkit's Go runtime sees one CPU
#     (GOMAXPROCS=1).
#   - Equal CPU cap: each server process runs in a CPU cgroup the run
#     creates, capped at SRV_QUOTA % of its core (default 10 %). perfdhcp
#     spends about twice ironkit's CPU per DORA, so on two cores it cannot
#     outrun a server that has a whole core: the cap makes every server
#     saturate first. The figure is then throughput at equal CPU. The
#     failover partner has its own cgroup with the same cap (a second rack).
#   - NICE (default -10) for the servers and perfdhcp alike, so other work
#     on a shared machine takes less of their cores.
#   - Socket buffers: perfdhcp has no buffer flag and the net.core.rmem_*
#     sysctls are not writable per network namespace on this kernel, so the
#     run sets net.core.rmem_default/rmem_max to RMEM bytes and restores the
#     old values on exit. Kea's and perfdhcp's sockets take the default;
#     ironkit asks for 8 MiB itself (SO_RCVBUFFORCE).
#   - perfdhcp -W 1 s: the exchanges started in the last second of a try
#     get the same 1 s to complete as the others (-d); the achieved rate is
#     ACKs per second of the sending period.
#   - PROCS perfdhcp processes, each with its own relay address and MAC
#     prefix (disjoint clients), share the rate of a step (default 1: more
#     processes on the one client core add no capacity).
#   - Each step is tried up to TRIES times per server; it passes when NEED
#     tries pass (perfdhcp offered >= 95 % of the rate and both the
#     DISCOVER/OFFER and REQUEST/ACK drops < MAXDROP %). A try where
#     perfdhcp offered less ("short": the load side fell behind) decides
#     nothing and is repeated. Servers take turns at every try, so load
#     from other processes hits them alike. A server is out after a failed
#     step; the table says whether its server or perfdhcp ended it. Its
#     figure is the highest passing step (and the DORA/s achieved there,
#     median of the passing tries).
#   - RUNS full runs (default 3); every run's table and the medians are
#     printed.
# Root; about 10 minutes per run.
set -euo pipefail
cd "$(dirname "$0")/../.."

STEP_SECS=${STEP_SECS:-5}
RATES=${RATES:-"100 250 500 750 1000 1250 1500 1750 2000 2250 2500 2750 3000 3250 3500 4000 4500 5000 6000 7000 8000"}
MAXDROP=${MAXDROP:-2.5}
TRIES=${TRIES:-3}
NEED=${NEED:-2}
RUNS=${RUNS:-3}
PROCS=${PROCS:-1}
THREADS=${THREADS:-single}
# perfdhcp counts an exchange as dropped when no answer came within 1 s
# (-d); -W gives the exchanges started in the last second of a try that
# same second instead of none.
WAIT_US=${WAIT_US:-1000000}
RMEM=${RMEM:-33554432}
NCPU=$(nproc)
SRV_CPU=${SRV_CPU:-$((NCPU - 1))}
CLI_CPU=${CLI_CPU:-0}
# SRV_QUOTA: percent of the server core each server process may use,
# enforced by a CPU cgroup the run creates (0: the whole core). The
# failover partner gets a cgroup of its own with the same cap (it stands
# for a second rack).
SRV_QUOTA=${SRV_QUOTA:-10}
# NICE: scheduling niceness of the servers and perfdhcp (both alike), so
# that other work on a shared machine takes less of their cores.
NICE=${NICE:--10}
[ "$(id -u)" = 0 ] || { echo "bench-dhcp: needs root (network namespaces)"; exit 1; }
for b in perfdhcp kea-dhcp4 dhcpd ip taskset sysctl; do
  command -v "$b" >/dev/null || { echo "bench-dhcp: $b missing: make test-deps"; exit 1; }
done
[ "$SRV_CPU" != "$CLI_CPU" ] || echo "bench-dhcp: warning: server and perfdhcp share CPU $SRV_CPU (only $NCPU CPUs)"
[ "$PROCS" -ge 1 ] && [ "$PROCS" -le 8 ] || { echo "bench-dhcp: PROCS=$PROCS: use 1..8"; exit 1; }

W=$(mktemp -d /tmp/bench-dhcp.XXXXXX)
SUF=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
NS_CLI=bdc$SUF NS_SRV=bds$SUF NS_PEER=bdp$SUF
SRV_PID=""
PEER_PID=""
CLI_PIDS=""
OLD_RMEM_DEFAULT="" OLD_RMEM_MAX=""
CG="" CGP=""
cleanup() {
  stop_server
  # Servers started inside a step's subshell (interrupted run).
  if [ -r "$W/pids" ]; then SRV_PID=$(cat "$W/pids") PEER_PID=""; stop_server 2>/dev/null; fi
  for p in $CLI_PIDS; do kill "$p" 2>/dev/null || true; done
  for n in $NS_CLI $NS_SRV $NS_PEER; do ip netns del "$n" 2>/dev/null || true; done
  for g in $CG $CGP; do
    for _ in $(seq 20); do rmdir "$g" 2>/dev/null && break; sleep 0.2; done
  done
  if [ -n "$OLD_RMEM_MAX" ]; then
    # rmem_default may not exceed rmem_max: lower the default first.
    sysctl -qw net.core.rmem_default="$OLD_RMEM_DEFAULT" net.core.rmem_max="$OLD_RMEM_MAX" || true
    echo "bench-dhcp: restored net.core.rmem_default=$(sysctl -n net.core.rmem_default) rmem_max=$(sysctl -n net.core.rmem_max)"
  fi
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
  for p in $SRV_PID $PEER_PID; do
    kill "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  SRV_PID="" PEER_PID=""
}

for n in $NS_CLI $NS_SRV $NS_PEER; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add bva$SUF type veth peer name bvb$SUF
ip link set bva$SUF netns $NS_CLI; ip link set bvb$SUF netns $NS_SRV
ip -n $NS_CLI link set bva$SUF name cli0; ip -n $NS_SRV link set bvb$SUF name srv0
for i in $(seq 0 $((PROCS - 1))); do ip -n $NS_CLI addr add 10.70.0.$((2 + i))/16 dev cli0; done
ip -n $NS_SRV addr add 10.70.0.1/16 dev srv0
ip -n $NS_CLI link set cli0 up; ip -n $NS_SRV link set srv0 up
ip link add bpa$SUF type veth peer name bpb$SUF
ip link set bpa$SUF netns $NS_SRV; ip link set bpb$SUF netns $NS_PEER
ip -n $NS_SRV link set bpa$SUF name peer0; ip -n $NS_PEER link set bpb$SUF name peer0
ip -n $NS_SRV addr add 10.71.0.1/24 dev peer0; ip -n $NS_PEER addr add 10.71.0.2/24 dev peer0
ip -n $NS_SRV link set peer0 up; ip -n $NS_PEER link set peer0 up

go build -o "$W/dhcpsrvd" ./dhcpsrv/internal/dhcpsrvd

OLD_RMEM_DEFAULT=$(sysctl -n net.core.rmem_default) OLD_RMEM_MAX=$(sysctl -n net.core.rmem_max)
sysctl -qw net.core.rmem_max="$((RMEM > OLD_RMEM_MAX ? RMEM : OLD_RMEM_MAX))" net.core.rmem_default="$RMEM"

# "${ON_SRV[@]}" CMD: run CMD in the server namespace on the server core
# (ip and taskset exec it, so $! is the server's PID); ON_PEER for the
# partner's namespace.
ON_SRV=(ip netns exec "$NS_SRV" taskset -c "$SRV_CPU" nice -n "$NICE")
ON_PEER=(ip netns exec "$NS_PEER" taskset -c "$SRV_CPU" nice -n "$NICE")
if [ "$SRV_QUOTA" -gt 0 ]; then
  # A server (or partner) joins its CPU cgroup, capped at SRV_QUOTA % of one
  # core, before it execs. The period is 10 ms, longer for caps under 10 %
  # (the kernel wants a quota of at least 1 ms).
  PERIOD=$(( SRV_QUOTA >= 10 ? 10000 : (100000 + SRV_QUOTA - 1) / SRV_QUOTA ))
  QUOTA=$(( PERIOD * SRV_QUOTA / 100 ))
  mkcg() {
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
      mkdir "/sys/fs/cgroup/$1" && echo "$QUOTA $PERIOD" > "/sys/fs/cgroup/$1/cpu.max" || return 1
      echo "/sys/fs/cgroup/$1"
    else
      mkdir "/sys/fs/cgroup/cpu/$1" && echo "$PERIOD" > "/sys/fs/cgroup/cpu/$1/cpu.cfs_period_us" &&
        echo "$QUOTA" > "/sys/fs/cgroup/cpu/$1/cpu.cfs_quota_us" || return 1
      echo "/sys/fs/cgroup/cpu/$1"
    fi
  }
  CG=/sys/fs/cgroup/cpu/benchdhcp$SUF CGP=/sys/fs/cgroup/cpu/benchdhcpp$SUF # for cleanup
  [ -e /sys/fs/cgroup/cgroup.controllers ] && CG=/sys/fs/cgroup/benchdhcp$SUF CGP=/sys/fs/cgroup/benchdhcpp$SUF
  mkcg benchdhcp$SUF > /dev/null && mkcg benchdhcpp$SUF > /dev/null ||
    { echo "bench-dhcp: cannot create a CPU cgroup capped at $SRV_QUOTA % ($QUOTA µs per $PERIOD µs)"; exit 1; }
  ON_SRV=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG" "${ON_SRV[@]}")
  ON_PEER=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CGP" "${ON_PEER[@]}")
fi

SUBNET='"Name":"bench","Prefix":"10.70.0.0/16","Interface":"srv0","ServerAddr":"10.70.0.1","Pools":[{"Start":"10.70.1.0","End":"10.70.255.250"}],"LeaseTime":3600000000000'
FO='"Mode":1,"Listen":"10.71.0.2:647","Peer":"10.71.0.2:647","Heartbeat":1000000000,"MaxResponseDelay":3000000000'

wait_log() { # FILE PATTERN: wait up to 10 s for PATTERN in FILE
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && { echo "$SRV_PID $PEER_PID" >> "$W/pids"; return 0; }; sleep 0.1; done
  echo "bench-dhcp: server did not start:"; cat "$1"; exit 1
}

wait_port67() { # wait up to 10 s for a UDP socket on port 67 in the server namespace
  for _ in $(seq 100); do
    [ -z "$(ip netns exec $NS_SRV ss -Hlun 'sport = :67')" ] || { echo "$SRV_PID $PEER_PID" >> "$W/pids"; return 0; }
    sleep 0.1
  done
  echo "bench-dhcp: server did not open port 67:"; cat "$W/server.log"; exit 1
}

start_ironkit() {
  rm -rf "$W/lease" "$W/peerlease"
  echo "{\"Interfaces\":[\"srv0\"],\"LeaseDir\":\"$W/lease\",\"Subnets\":[{$SUBNET}]}" > "$W/ik.json"
  "${ON_SRV[@]}" "$W/dhcpsrvd" -config "$W/ik.json" ${DHCPSRVD_ARGS:-} > "$W/server.log" 2>&1 &
  SRV_PID=$!
  wait_log "$W/server.log" serving
}

start_ironkit_pair() {
  rm -rf "$W/lease" "$W/peerlease"
  echo "{\"Interfaces\":[\"srv0\"],\"LeaseDir\":\"$W/lease\",\"Subnets\":[{$SUBNET}],\"Failover\":{$FO,\"Role\":1}}" > "$W/ikp.json"
  # The partner serves the same subnet on its own (idle) link: in
  # hot-standby it answers nobody while the primary is up. It shares the
  # server core with the primary.
  echo "{\"Interfaces\":[\"peer0\"],\"LeaseDir\":\"$W/peerlease\",\"Subnets\":[{${SUBNET/\"Interface\":\"srv0\",/}}],\"Failover\":{$FO,\"Role\":2}}" > "$W/iks.json"
  "${ON_PEER[@]}" "$W/dhcpsrvd" -config "$W/iks.json" > "$W/peer.log" 2>&1 &
  PEER_PID=$!
  "${ON_SRV[@]}" "$W/dhcpsrvd" -config "$W/ikp.json" ${DHCPSRVD_ARGS:-} > "$W/server.log" 2>&1 &
  SRV_PID=$!
  echo "$SRV_PID $PEER_PID" >> "$W/pids"
  for _ in $(seq 200); do grep -q to=normal "$W/server.log" && grep -q to=normal "$W/peer.log" && return 0; sleep 0.1; done
  echo "bench-dhcp: failover pair did not reach normal"; cat "$W/server.log" "$W/peer.log"; exit 1
}

start_kea() {
  rm -f "$W"/kea-leases*
  cat > "$W/kea.json" <<JSON
{"Dhcp4": {
  "interfaces-config": {"interfaces": ["srv0"], "dhcp-socket-type": "udp"},
  "multi-threading": {"enable-multi-threading": false},
  "lease-database": {"type": "memfile", "persist": true, "name": "$W/kea-leases.csv", "lfc-interval": 0},
  "valid-lifetime": 3600,
  "subnet4": [{"id": 1, "subnet": "10.70.0.0/16", "pools": [{"pool": "10.70.1.0 - 10.70.255.250"}]}],
  "loggers": [{"name": "kea-dhcp4", "severity": "WARN", "output_options": [{"output": "stderr"}]}]
}}
JSON
  KEA_LOCKFILE_DIR=$W KEA_PIDFILE_DIR=$W "${ON_SRV[@]}" kea-dhcp4 -c "$W/kea.json" > "$W/server.log" 2>&1 &
  SRV_PID=$!
  wait_port67
}

start_dhcpd() {
  rm -f "$W/dhcpd.leases"*; touch "$W/dhcpd.leases"
  cat > "$W/dhcpd.conf" <<CONF
authoritative;
# dhcpd pings every address before offering it (1 s wait) unless told not
# to; ironkit's PingCheck is off by default and Kea has none.
ping-check false;
default-lease-time 3600;
max-lease-time 3600;
subnet 10.70.0.0 netmask 255.255.0.0 { range 10.70.1.0 10.70.255.250; }
CONF
  "${ON_SRV[@]}" dhcpd -4 -f -q -cf "$W/dhcpd.conf" -lf "$W/dhcpd.leases" -pf "$W/dhcpd.pid" srv0 > "$W/server.log" 2>&1 &
  SRV_PID=$!
  wait_port67
}

# cpu_ticks PID... → summed utime+stime of the processes, in clock ticks.
cpu_ticks() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $t
}

# rcvbuf_errors NS → UDP receive-buffer overflows so far in that namespace.
rcvbuf_errors() { ip netns exec "$1" awk '/^Udp:/ {n++; if (n==2) print $6}' /proc/net/snmp; }

HZ=$(getconf CLK_TCK)

# step START_FN RATE → prints "achieved maxdrop cpu_us_per_dora srv_util%
# cli_util%" and writes the overflows (server side, client side) to
# $W/overflows. Utilisation is CPU time over wall time from 1 s to
# STEP_SECS-1 s into the step (steady state), 100 % = one core.
step() {
  local start=$1 rate=$2 i
  $start
  local pids="$SRV_PID $PEER_PID" t0 so co
  t0=$(cpu_ticks $pids) so=$(rcvbuf_errors $NS_SRV) co=$(rcvbuf_errors $NS_CLI)
  CLI_PIDS=""
  for i in $(seq 0 $((PROCS - 1))); do
    # Rates are split evenly; the MAC prefix 00:0c:0<i+1> keeps each
    # process's -R clients apart.
    ip netns exec $NS_CLI taskset -c "$CLI_CPU" nice -n "$NICE" perfdhcp -4 -g "$THREADS" -r $((rate / PROCS)) -R 60000 -W "$WAIT_US" \
      -b mac=00:0c:0$((i + 1)):00:00:00 -p "$STEP_SECS" -l 10.70.0.$((2 + i)) 10.70.0.1 > "$W/perf.$i" 2>&1 &
    CLI_PIDS="$CLI_PIDS $!"
    echo $! >> "$W/pids"
  done
  sleep 1
  local s1 c1 w1 s2 c2 w2
  s1=$(cpu_ticks $pids) c1=$(cpu_ticks $CLI_PIDS) w1=$(date +%s%N)
  sleep $((STEP_SECS - 2))
  s2=$(cpu_ticks $pids) c2=$(cpu_ticks $CLI_PIDS) w2=$(date +%s%N)
  local waited=0
  for p in $CLI_PIDS; do
    while kill -0 "$p" 2>/dev/null; do
      sleep 0.2; waited=$((waited + 1))
      [ $waited -lt 150 ] || { kill "$p" 2>/dev/null || true; break; }
    done
    wait "$p" 2>/dev/null || true
  done
  CLI_PIDS=""
  local ticks=$(( $(cpu_ticks $pids) - t0 ))
  echo "$(( $(rcvbuf_errors $NS_SRV) - so )) $(( $(rcvbuf_errors $NS_CLI) - co ))" > "$W/overflows"
  stop_server
  : > "$W/pids"
  # Sum rates and ACKs over the perfdhcp processes; the drop ratio is the
  # worst exchange of the worst process.
  cat "$W"/perf.* > "$W/perf.all"
  local achieved drops acks
  drops=$(awk '/drops ratio:/ {v=$3; if (v=="-nan" || v=="nan") v=100; if (v+0>m) m=v+0} END {print m+0}' "$W/perf.all")
  # The second "received packets" line of each report counts ACKs.
  acks=$(awk '/^\*\*\*Rate/ {n=0} /received packets:/ {n++; if (n==2) s+=$3} END {print s+0}' "$W/perf.all")
  # perfdhcp's own Rate counts the -W wait: the achieved rate is ACKs over
  # the sending period.
  achieved=$((acks / STEP_SECS))
  [ "$(grep -c '^Rate:' "$W/perf.all")" = "$PROCS" ] || drops=100
  # DISCOVERs sent per second: the load perfdhcp actually offered.
  local offered
  offered=$(awk '/^\*\*\*Rate/ {n=0} /sent packets:/ {n++; if (n==1) s+=$3} END {print s+0}' "$W/perf.all")
  offered=$((offered / STEP_SECS))
  rm -f "$W"/perf.*
  awk -v t="$ticks" -v hz="$HZ" -v a="$acks" -v ach="$achieved" -v d="$drops" -v off="$offered" \
    -v s="$((s2 - s1))" -v c="$((c2 - c1))" -v w="$(( (w2 - w1) / 1000000 ))" 'BEGIN {
      cpu = (a > 0) ? t / hz * 1e6 / a : 0
      printf "%s %s %.0f %.0f %.0f %s\n", ach, d, cpu, s / hz * 1e5 / w, c / hz * 1e5 / w, off }'
}

median() { tr ' ' '\n' | { grep -v '^$' || true; } | sort -n | awk '{v[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
round() { awk '{printf "%.0f\n", $1}'; }

NAMES=("ISC dhcpd 4.4" "Kea 2.2" "ironkit" "ironkit+partner")
# ONLY="ironkit" (a |-separated list) runs a subset, e.g. while profiling
# with DHCPSRVD_ARGS="-cpuprofile /tmp/ik.prof".
if [ -n "${ONLY:-}" ]; then
  IFS='|' read -r -a NAMES <<<"$ONLY"
fi
declare -A START=(["ISC dhcpd 4.4"]=start_dhcpd ["Kea 2.2"]=start_kea ["ironkit"]=start_ironkit ["ironkit+partner"]=start_ironkit_pair)
declare -A BEST BEST_ACH BEST_CPU ALIVE ENDED PASSES FAILS ACHS CPUS ALL_BEST ALL_ACH ALL_CPU
for name in "${NAMES[@]}"; do ALL_BEST[$name]="" ALL_ACH[$name]="" ALL_CPU[$name]=""; done
RATIOS="" PRATIOS=""

echo "bench-dhcp: $NCPU CPUs; servers on CPU $SRV_CPU (${SRV_QUOTA/#0/100} % of it${QUOTA:+: $QUOTA µs per $PERIOD µs}), $PROCS perfdhcp (-g $THREADS) on CPU $CLI_CPU;" \
  "net.core.rmem_default=$(sysctl -n net.core.rmem_default) for the run (was $OLD_RMEM_DEFAULT);" \
  "${STEP_SECS}s per try, a step passes with $NEED of $TRIES tries at drops < ${MAXDROP}%; $RUNS run(s)"

for run in $(seq 1 "$RUNS"); do
  echo
  echo "== run $run/$RUNS, $(date -u +%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
  for name in "${NAMES[@]}"; do BEST[$name]=0 BEST_ACH[$name]=0 BEST_CPU[$name]=0 ALIVE[$name]=1 ENDED[$name]=""; done
  for rate in $RATES; do
    alive=0
    for name in "${NAMES[@]}"; do
      PASSES[$name]=0 FAILS[$name]=0 ACHS[$name]="" CPUS[$name]=""
      [ "${ALIVE[$name]}" = 0 ] || alive=1
    done
    [ $alive = 1 ] || break
    # Servers take turns try by try until each has NEED passes or can no
    # longer get them. A "short" try (perfdhcp offered < 95 % of the rate:
    # the load side, not the server, fell behind) decides nothing; it is
    # tried again, up to 2×TRIES tries in all.
    for try in $(seq 1 $((2 * TRIES))); do
      for name in "${NAMES[@]}"; do
        [ "${ALIVE[$name]}" = 1 ] || continue
        [ "${PASSES[$name]}" -lt "$NEED" ] || continue
        [ $((TRIES - FAILS[$name])) -ge "$NEED" ] || continue
        read -r ach drops cpu sutil cutil offered < <(step "${START[$name]}" "$rate")
        read -r sov cov < "$W/overflows"
        ok=FAIL
        if [ $((offered * 100)) -lt $((rate * 95)) ]; then
          ok=short
        elif awk -v d="$drops" -v m="$MAXDROP" 'BEGIN {exit !(d < m)}'; then
          ok=pass PASSES[$name]=$((PASSES[$name] + 1)) ACHS[$name]="${ACHS[$name]} $ach" CPUS[$name]="${CPUS[$name]} $cpu"
        else
          FAILS[$name]=$((FAILS[$name] + 1))
        fi
        printf '  %-16s rate %6s try %d: %5s offered %6s achieved %6s DORA/s, drops %6s %%, server %4s µs/DORA, busy server %3s %% client %3s %%, overflows srv/cli %s/%s (load %s)\n' \
          "$name" "$rate" "$try" "$ok" "$offered" "$ach" "$drops" "$cpu" "$sutil" "$cutil" "$sov" "$cov" "$(cut -d' ' -f1 /proc/loadavg)"
      done
    done
    for name in "${NAMES[@]}"; do
      [ "${ALIVE[$name]}" = 1 ] || continue
      if [ "${PASSES[$name]}" -ge "$NEED" ]; then
        BEST[$name]=$rate BEST_ACH[$name]=$(median <<<"${ACHS[$name]}" | round) BEST_CPU[$name]=$(median <<<"${CPUS[$name]}" | round)
        [ "$rate" != "${RATES##* }" ] || ENDED[$name]="passed the top step"
      else
        ALIVE[$name]=0
        if [ $((TRIES - FAILS[$name])) -lt "$NEED" ]; then
          ENDED[$name]="server: drops at $rate"
        else
          ENDED[$name]="load side: perfdhcp short at $rate"
        fi
      fi
    done
  done

  kea=${BEST_ACH["Kea 2.2"]:-0} keacpu=${BEST_CPU["Kea 2.2"]:-0}
  echo
  echo "run $run: servers on CPU $SRV_CPU, perfdhcp on CPU $CLI_CPU, load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "| server | highest passing step (DORA/s) | achieved DORA/s | vs Kea | server CPU µs/DORA at that step | Kea CPU / server CPU | ended by |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  for name in "${NAMES[@]}"; do
    ratio=$(awk -v a="${BEST_ACH[$name]}" -v k="$kea" 'BEGIN {if (k>0) printf "%.2f", a/k; else print "n/a"}')
    eff=$(awk -v c="${BEST_CPU[$name]}" -v k="$keacpu" 'BEGIN {if (c>0 && k>0) printf "%.2f", k/c; else print "n/a"}')
    step=${BEST[$name]}
    # A server that failed the first step: below it, no figure.
    [ "$step" != 0 ] || { step="< ${RATES%% *}" ratio=n/a eff=n/a BEST_CPU[$name]=n/a; }
    printf '| %s | %s | %s | %s× | %s | %s× | %s |\n' "$name" "$step" "${BEST_ACH[$name]}" "$ratio" "${BEST_CPU[$name]}" "$eff" "${ENDED[$name]}"
    ALL_BEST[$name]="${ALL_BEST[$name]} ${BEST[$name]}" ALL_ACH[$name]="${ALL_ACH[$name]} ${BEST_ACH[$name]}" ALL_CPU[$name]="${ALL_CPU[$name]} ${BEST_CPU[$name]}"
    [ "$name" != ironkit ] || RATIOS="$RATIOS $ratio"
    [ "$name" != ironkit+partner ] || PRATIOS="$PRATIOS $ratio"
  done
done

if [ "$RUNS" -gt 1 ]; then
  echo
  echo "medians over $RUNS runs (vs Kea: median of the per-run ratios)"
  echo "| server | highest passing step (DORA/s) | achieved DORA/s | server CPU µs/DORA | vs Kea, each run | vs Kea, median |"
  echo "|---|---:|---:|---:|---:|---:|"
  for name in "${NAMES[@]}"; do
    each=n/a med=n/a
    if [ -n "${ALL_ACH["Kea 2.2"]:-}" ]; then
      each="" r=""
      read -r -a a <<<"${ALL_ACH[$name]}"; read -r -a k <<<"${ALL_ACH["Kea 2.2"]}"
      for i in "${!a[@]}"; do
        x=$(awk -v a="${a[$i]}" -v k="${k[$i]}" 'BEGIN {if (k>0 && a>0) printf "%.2f", a/k; else print "n/a"}')
        [ "$x" = n/a ] || x="$x×"
        each="$each${each:+, }$x" r="$r ${x%×}"
      done
      med=$(median <<<"${r//n\/a/}")
      [ "$med" = 0 ] && med=n/a || med=$(awk -v m="$med" 'BEGIN {printf "%.2f×", m}')
    fi
    mstep=$(median <<<"${ALL_BEST[$name]}")
    [ "$mstep" != 0 ] || mstep="< ${RATES%% *}"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$mstep" \
      "$(median <<<"${ALL_ACH[$name]}")" "$(median <<<"${ALL_CPU[$name]}")" "$each" "$med"
  done
fi
