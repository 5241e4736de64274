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
CLUSTER_NAMESPACES=()   # every namespace this run made, recorded once made: the only ones it removes
CLUSTER_PIDS=()
CLUSTER_DIR=""
CLUSTER_FAILED=0

# A failure keeps the run's files (logs) for a look; cluster_down removes them otherwise.
die() { CLUSTER_FAILED=1; echo "cluster: $*" >&2; exit 1; }

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
  # Interrupted: clean up, then die of the same signal, so that a calling shell (a loop in bench.sh) stops too
  # instead of carrying on as after an ordinary exit.
  trap 'CLUSTER_FAILED=1; cluster_down; trap - INT; kill -INT $BASHPID' INT
  trap 'CLUSTER_FAILED=1; cluster_down; trap - TERM; kill -TERM $BASHPID' TERM
  trap 'cluster_down' EXIT
  ip netns list | grep -q "^${CLUSTER_ID}-" && die "namespaces named ${CLUSTER_ID}-* exist already; not touching them"
  ip netns add "$CLUSTER_SWITCH"
  CLUSTER_NAMESPACES=("$CLUSTER_SWITCH")
  ip -n "$CLUSTER_SWITCH" link add br0 type bridge
  ip -n "$CLUSTER_SWITCH" link set br0 up
  for ((i = 0; i < n; i++)); do
    ns=$(host_ns "$i")
    ip netns add "$ns"
    CLUSTER_HOSTS+=("$ns")
    CLUSTER_NAMESPACES+=("$ns")
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
# Its standard input is $CLUSTER_STDIN if set (a fifo, say), else /dev/null. Returns once the process is inside the
# namespace (or has already exited): until ip has called setns, the PID is not recognisably ours, and cleanup must
# be able to tell.
on_host() {
  local i=$1 name=$2 t; shift 2
  ip netns exec "$(host_ns "$i")" "$@" >"$CLUSTER_DIR/$name.log" 2>&1 <"${CLUSTER_STDIN:-/dev/null}" &
  CLUSTER_PIDS+=($!)
  LAST_PID=$!
  for ((t = 0; t < 500; t++)); do
    [ "$(ip netns identify "$LAST_PID" 2>/dev/null)" = "$(host_ns "$i")" ] && return 0
    kill -0 "$LAST_PID" 2>/dev/null || return 0
    sleep 0.01
  done
  die "$name (pid $LAST_PID) did not enter $(host_ns "$i") within 5 s"
}

# ours PID: whether PID is still a process in one of this run's namespaces. A recorded PID that has exited may have
# been reused by now (every .NET thread takes a number too), and must not be signalled.
ours() {
  local where
  where=$(ip netns identify "$1" 2>/dev/null) || return 1
  [[ " ${CLUSTER_NAMESPACES[*]} " == *" $where "* ]]
}

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL; only while it is one of ours.
stop_pid() {
  local pid=$1 t
  ours "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((t = 0; t < 100; t++)); do ours "$pid" || break; sleep 0.1; done
  ours "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

# Removes what cluster_up and on_host made, by PID and by name, and fails loudly if anything is left. Runs from the
# traps too, so nothing in it may stop it halfway (set +e here).
cluster_down() {
  local -
  set +e
  trap - EXIT INT TERM
  local pid ns left=()
  for pid in "${CLUSTER_PIDS[@]}"; do stop_pid "$pid"; done
  for ns in "${CLUSTER_NAMESPACES[@]}"; do
    # Anything still running in a namespace (a child a process left) is killed before the namespace goes.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  for ns in "${CLUSTER_NAMESPACES[@]}"; do
    ip netns list | awk '{print $1}' | grep -qx "$ns" && left+=("namespace $ns")
  done
  if [ ${#left[@]} -gt 0 ]; then
    echo "cluster: LEFT BEHIND: ${left[*]}" >&2
    return 1
  fi
  echo "cluster: removed ${#CLUSTER_PIDS[@]} processes and ${#CLUSTER_NAMESPACES[@]} namespaces (their links went with them); nothing left" >&2
  CLUSTER_NAMESPACES=()
  if [ "$CLUSTER_FAILED" -eq 1 ]; then echo "cluster: logs kept in $CLUSTER_DIR" >&2
  elif [ -n "$CLUSTER_DIR" ]; then rm -rf "$CLUSTER_DIR"; fi
}

# wait_exit SECONDS PID...: waits for the processes to end, at most SECONDS in all, in one-second naps, so that a
# signal's trap runs within a second (bash runs traps only between commands); then stops any still running.
wait_exit() {
  local limit=$1 t=0 pid; shift
  for pid in "$@"; do
    while ours "$pid" && ((t++ < limit)); do sleep 1; done
    stop_pid "$pid"
  done
}

# The disttrain binary test.sh builds; built here if missing.
disttrain_dll() {
  local dll="${DISTTRAIN_DLL:-$PWD/src/DistTrain.Cli/bin/Release/net10.0/disttrain.dll}"
  if [ ! -f "$dll" ]; then
    dotnet build src/DistTrain.Cli -c Release -nologo -v q >/dev/null || die "could not build disttrain"
  fi
  echo "$dll"
}

# healthy I URL [SERVICE]: whether `disttrain health`, asked from host I, says SERVING.
healthy() {
  ip netns exec "$(host_ns "$1")" dotnet "$DLL" health --address "$2" --service "${3:-}" --timeout 5 >/dev/null 2>&1
}

# wait_healthy I URL [SERVICE]: polls until SERVING, for at most 120 s.
wait_healthy() {
  local t
  for ((t = 0; t < 240; t++)); do healthy "$@" && return 0; sleep 0.5; done
  die "$2 was not serving within 120 s"
}

# ensure_dataset NAME: the dataset in the machine's data cache ($DISTTRAIN_DATA), where the coordinator reads it.
# Fetched (npm) here, outside the namespaces, which have no way out.
ensure_dataset() {
  export DISTTRAIN_DATA="${DISTTRAIN_DATA:-$HOME/.cache/disttrain}"
  dotnet "$DLL" data fetch "$1" >/dev/null || die "could not fetch $1"
}

# The pieces of a DistTrain cluster on the namespaces: the coordinator on host 0, a worker on each of hosts 1..N, all
# bound to 0.0.0.0, advertising their host's address, and sharing a fresh cluster token (a 0600 file). The
# coordinator reads datasets from the machine's data cache ($DISTTRAIN_DATA); each worker starts with an empty cache of
# its own, as a separate machine would, and gets the dataset over its link.
cluster_token() {
  CLUSTER_TOKEN="$CLUSTER_DIR/cluster.token"
  (umask 077; head -c 32 /dev/urandom | base64 | tr -d '\n=' > "$CLUSTER_TOKEN")
  COORDINATOR_URL="http://$(host_ip 0):7070"
}

# start_coordinator TAG: (again) on host 0, on the same state directory; sets COORDINATOR_PID.
start_coordinator() {
  on_host 0 "coordinator$1" env DISTTRAIN_DATA="$DISTTRAIN_DATA" dotnet "$DLL" coordinator --bind 0.0.0.0 --port 7070 \
    --state-dir "$CLUSTER_DIR/state" --token-file "$CLUSTER_TOKEN" --metrics-port 9464
  COORDINATOR_PID=$LAST_PID
}

# start_workers N THREADS: sets WORKER_PIDS.
start_workers() {
  local i
  WORKER_PIDS=()
  for ((i = 1; i <= $1; i++)); do
    mkdir -p "$CLUSTER_DIR/h$i"
    on_host "$i" "worker-$i" env DISTTRAIN_DATA="$CLUSTER_DIR/h$i/data" dotnet "$DLL" worker --coordinator "$COORDINATOR_URL" \
      --bind 0.0.0.0 --port 7000 --advertise "http://$(host_ip "$i"):7000" --token-file "$CLUSTER_TOKEN" --threads "$2" --metrics-port 9464
    WORKER_PIDS+=("$LAST_PID")
  done
}

# wait_ready N: the coordinator and workers 1..N all report ready.
wait_ready() {
  local i
  wait_healthy 0 "$COORDINATOR_URL"
  for ((i = 1; i <= $1; i++)); do wait_healthy "$i" "http://$(host_ip "$i"):7000"; done
}

# disttrain_on_host0 ARGS...: a disttrain client command from the coordinator's host, with the cluster's token.
disttrain_on_host0() {
  ip netns exec "$(host_ns 0)" dotnet "$DLL" "$@" --coordinator "$COORDINATOR_URL" --token-file "$CLUSTER_TOKEN"
}

# samples_trained N: the samples workers 1..N have trained so far (their disttrain_samples_total counters), read from host 0.
samples_trained() {
  local i
  for ((i = 1; i <= $1; i++)); do
    ip netns exec "$(host_ns 0)" curl -sf --max-time 5 "http://$(host_ip "$i"):9464/metrics" || true
  done | awk '/^disttrain_samples_total[{ ]/ { s += $NF } END { printf "%d\n", s }'
}
