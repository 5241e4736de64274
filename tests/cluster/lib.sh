# A simulated cluster on one machine, for tests/cluster/run.sh and bench.sh (sourced, not run).
#
# Each "host" is a Linux network namespace with one address in 198.18.0.0/15 (RFC 2544: reserved for benchmarking,
# never routed), cabled by a veth pair to a bridge. The bridge lives in a namespace of its own, the "switch", so
# nothing of the cluster touches the machine's own network: no address, no route and no firewall rule outside the
# namespaces it creates. Every link is shaped in both directions with a token-bucket filter (tc tbf; this kernel has no
# netem) to the chosen profile's rate.
#
# Everything is named after this shell's PID (dt<PID>-...), every process started is recorded by PID, and
# cluster_down removes exactly those, from an EXIT/INT/TERM trap too, then checks that nothing is left.

CLUSTER_ID="dt$(( $$ % 100000 ))"
CLUSTER_SUBNET="198.18.$(( $$ % 250 + 1 ))"   # hosts are .1 (h0) to .N
CLUSTER_SWITCH="${CLUSTER_ID}-sw"
CLUSTER_HOSTS=()
CLUSTER_PIDS=()
CLUSTER_DIR=""

die() { echo "cluster: $*" >&2; exit 1; }

# The profiles: tbf's rate, and a bucket deep enough for the rate at the kernel's timer granularity (rate / 250 Hz
# at least) and for 64 KiB GSO segments, which a shallower bucket would drop whole.
profile_tbf() {
  case "$1" in
    1gbit) echo "rate 1gbit burst 1mb latency 20ms" ;;
    10gbit) echo "rate 10gbit burst 8mb latency 20ms" ;;
    *) die "unknown profile '$1' (1gbit or 10gbit)" ;;
  esac
}

host_ns() { echo "${CLUSTER_ID}-h$1"; }
host_ip() { echo "${CLUSTER_SUBNET}.$(( $1 + 1 ))"; }

# cluster_up HOSTS PROFILE: the switch, HOSTS namespaces cabled to it, every link shaped.
cluster_up() {
  local n=$1 profile=$2 tbf i ns
  [ "$(id -u)" -eq 0 ] || die "needs root (it creates network namespaces); run it as root"
  command -v ip >/dev/null && command -v tc >/dev/null || die "needs iproute2 (ip, tc)"
  tbf=$(profile_tbf "$profile")
  CLUSTER_DIR=$(mktemp -d "/tmp/${CLUSTER_ID}.XXXX")
  trap 'cluster_down; exit 130' INT
  trap 'cluster_down; exit 143' TERM
  trap 'cluster_down' EXIT
  ip netns add "$CLUSTER_SWITCH"
  ip -n "$CLUSTER_SWITCH" link add br0 type bridge
  ip -n "$CLUSTER_SWITCH" link set br0 up
  for ((i = 0; i < n; i++)); do
    ns=$(host_ns "$i")
    ip netns add "$ns"
    CLUSTER_HOSTS+=("$ns")
    # The pair is made inside the switch, then one end moves to the host and becomes its eth0.
    ip -n "$CLUSTER_SWITCH" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$CLUSTER_SWITCH" link set "p$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$(host_ip "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    # Both directions: the host's sending side, and the switch port's sending side towards the host.
    tc -n "$ns" qdisc add dev eth0 root tbf $tbf
    tc -n "$CLUSTER_SWITCH" qdisc add dev "p$i" root tbf $tbf
  done
  echo "cluster: $n hosts ${CLUSTER_SUBNET}.1-$n on a bridge, each link shaped to $profile (tbf $tbf); files in $CLUSTER_DIR" >&2
}

# on_host I NAME CMD...: runs CMD in host I's namespace, in the background, logging to $CLUSTER_DIR/NAME.log; records the PID.
# ip netns exec execs CMD in place, so $! is CMD's own PID.
# Its standard input is $CLUSTER_STDIN if set (a fifo, say), else /dev/null.
on_host() {
  local i=$1 name=$2; shift 2
  ip netns exec "$(host_ns "$i")" "$@" >"$CLUSTER_DIR/$name.log" 2>&1 <"${CLUSTER_STDIN:-/dev/null}" &
  CLUSTER_PIDS+=($!)
  LAST_PID=$!
}

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL; waits for it.
stop_pid() {
  local pid=$1 t
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((t = 0; t < 100; t++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

# Removes what cluster_up and on_host made, by PID and by name, and fails loudly if anything is left.
cluster_down() {
  trap - EXIT INT TERM
  local pid ns left=()
  for pid in "${CLUSTER_PIDS[@]}"; do stop_pid "$pid"; done
  for ns in "${CLUSTER_HOSTS[@]}" "$CLUSTER_SWITCH"; do
    # Anything still running in a namespace (a child a process left) is killed before the namespace goes.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null || true
  done
  for pid in "${CLUSTER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("process $pid"); done
  for ns in $(ip netns list | awk '{print $1}' | grep "^${CLUSTER_ID}-" || true); do left+=("namespace $ns"); done
  if [ ${#left[@]} -gt 0 ]; then
    echo "cluster: LEFT BEHIND: ${left[*]}" >&2
    CLUSTER_LEFT=1
    return 1
  fi
  echo "cluster: removed ${#CLUSTER_PIDS[@]} processes and $(( ${#CLUSTER_HOSTS[@]} + 1 )) namespaces (their links went with them); nothing left" >&2
}

# The disttrain binary test.sh builds; built here if missing.
disttrain_dll() {
  local dll="${DISTTRAIN_DLL:-$PWD/src/DistTrain.Cli/bin/Release/net10.0/disttrain.dll}"
  if [ ! -f "$dll" ]; then
    dotnet build src/DistTrain.Cli -c Release -nologo -v q >/dev/null || die "could not build disttrain"
  fi
  echo "$dll"
}

# wait_healthy I URL [SERVICE]: polls `disttrain health` from host I until SERVING, for at most 120 s.
wait_healthy() {
  local i=$1 url=$2 service=${3:-} t
  for ((t = 0; t < 240; t++)); do
    ip netns exec "$(host_ns "$i")" dotnet "$DLL" health --address "$url" --service "$service" --timeout 5 >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$url was not serving within 120 s"
}

# not_healthy I URL [SERVICE]: whether `disttrain health` says it is not serving.
not_healthy() {
  ! ip netns exec "$(host_ns "$1")" dotnet "$DLL" health --address "$2" --service "${3:-}" --timeout 5 >/dev/null 2>&1
}
