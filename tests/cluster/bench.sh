#!/usr/bin/env bash
# Bandwidth where it matters: DistTrain on the simulated cluster of lib.sh, and beside it a peer (gloo) in the same
# namespaces over the same shaped links. Run from the repository root, as root; prints one line per figure, best of
# --repeat runs (these machines are noisy).
#   tests/cluster/bench.sh allreduce [--profile 1gbit] [--workers "2 4"] [--size-mb 64] [--iterations 10] [--repeat 3] [--tls] [--peer CMD]
#       ring allreduce bus bandwidth: `disttrain bench allreduce-rank`, one rank per host; with --tls also over mutual
#       TLS (certificates from a throwaway CA for the hosts' addresses)
#   tests/cluster/bench.sh train [--model mnist-cnn] [--workers "1 2 4"] [--profile "1gbit 10gbit"] [--repeat 1] [--peer CMD]
#       training throughput in steady state: a real DistTrain job (a coordinator host plus one host per worker, the
#       model's default global batch, 1 thread per worker) measured from its workers' disttrain_samples_total counters
#       over a window after a warm-up, data loading included
# --peer CMD: the yardstick, run on every host as `CMD allreduce RANK WORLD MASTER SIZE_MB ITERS` or
# `CMD train MODEL RANK WORLD MASTER GLOBAL_BATCH STEPS` with GLOO_SOCKET_IFNAME=eth0 (MASTER: host 0's address);
# rank 0 prints one line ending in busbw=... or samples/s=.... The project carries no peer code: BENCHMARKS.md
# (sitting 10) has the gloo script its figures came from, and how to run it. Without --peer, DistTrain alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cluster/lib.sh

mode=${1:-}; shift || true
profiles=1gbit workers="2 4" size=64 iterations=10 repeat=3 model=mnist-cnn tls=0 peer=""
[ "$mode" = train ] && { profiles="1gbit 10gbit"; workers="1 2 4"; repeat=1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profiles=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --size-mb) size=$2; shift 2 ;;
    --iterations) iterations=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --tls) tls=1; shift ;;
    --peer) peer=$2; shift 2 ;;
    *) die "unknown argument '$1' (see the top of $0)" ;;
  esac
done
DLL=$(disttrain_dll)
best() { sort -g | tail -n 1; }
# best_line KEY: of the lines read, the one with the highest number after KEY=.
best_line() { awk -v key="$1=" '{ for (i = 1; i <= NF; i++) if (index($i, key) == 1) { v = substr($i, length(key) + 1) + 0; if (v > b) { b = v; l = $0 } } } END { print l }'; }

# One DistTrain allreduce measurement on a fresh cluster of N hosts; prints the collective's seconds (slowest rank).
# With SCHEME https, every link is mutual TLS, with certificates for the hosts' addresses from a throwaway CA.
disttrain_allreduce() { ( # a subshell: its own cluster, torn down on its exit
  local n=$1 scheme=${2:-http} r peers="" hosts="" token fds=() certs=()
  cluster_up "$n" "$profile" 2>/dev/null
  for ((r = 0; r < n; r++)); do peers+="${peers:+,}$scheme://$(host_ip "$r"):7000"; hosts+="${hosts:+,}$(host_ip "$r")"; done
  if [ "$scheme" = https ]; then
    dotnet "$DLL" certs init --dir "$CLUSTER_DIR/certs" --days 1 >/dev/null 2>&1
    dotnet "$DLL" certs issue rank --dir "$CLUSTER_DIR/certs" --hosts "$hosts" --days 1 >/dev/null 2>&1
    certs=(--certs "$CLUSTER_DIR/certs")
  fi
  token=$(head -c 32 /dev/urandom | base64 | tr -d '\n=')
  for ((r = 0; r < n; r++)); do
    # Held open read-write first (which never blocks on Linux), so that the rank's opening it does not wait for us.
    mkfifo "$CLUSTER_DIR/go-$r"
    exec {fd}<>"$CLUSTER_DIR/go-$r"; fds+=("$fd")
    CLUSTER_STDIN="$CLUSTER_DIR/go-$r" on_host "$r" "rank-$r" env DISTTRAIN_TOKEN="$token" dotnet "$DLL" bench allreduce-rank --bind 0.0.0.0 \
      --rank "$r" --peers "$peers" --size-mb "$size" --iterations "$iterations" --streams 4 --max-warmup-seconds 60 "${certs[@]}"
  done
  # Every rank serves its ring end before any connects to its neighbour, as `bench allreduce` does on loopback.
  for ((r = 0; r < n; r++)); do
    for ((t = 0; t < 1200; t++)); do grep -q '^ready' "$CLUSTER_DIR/rank-$r.log" && break; sleep 0.1; done
    grep -q '^ready' "$CLUSTER_DIR/rank-$r.log" || die "rank $r did not start: $(cat "$CLUSTER_DIR/rank-$r.log")"
  done
  for fd in "${fds[@]}"; do echo go >&"$fd"; done
  wait_exit 600 "${CLUSTER_PIDS[@]}"
  for ((r = 0; r < n; r++)); do sed -n 's/^seconds //p' "$CLUSTER_DIR/rank-$r.log"; done | sort -g | tail -n 1 | grep . \
    || die "no timing: $(tail -n 3 "$CLUSTER_DIR"/rank-*.log)"
) }

# One peer measurement on a fresh cluster of N hosts (GLOO_SOCKET_IFNAME: gloo would otherwise take the address the
# machine's host name resolves to, which is not on the namespaces' network): $peer KIND [MODEL] RANK WORLD MASTER
# REST...; prints rank 0's line, with the profile after its first two words.
peer_run() { ( # peer_run N KIND [MODEL] -- REST...
  local n=$1 kind=$2 r; shift 2
  local pre=() ; while [ "$1" != -- ]; do pre+=("$1"); shift; done; shift
  cluster_up "$n" "$profile" 2>/dev/null
  for ((r = 0; r < n; r++)); do
    # $peer is a command line: split into words on purpose.
    # shellcheck disable=SC2086
    on_host "$r" "peer-$r" env GLOO_SOCKET_IFNAME=eth0 $peer "$kind" "${pre[@]}" "$r" "$n" "$(host_ip 0)" "$@"
  done
  wait_exit 900 "${CLUSTER_PIDS[@]}"
  tail -n 1 "$CLUSTER_DIR/peer-0.log" | grep -E "(busbw|samples/s)=" | sed -E "s/^([^ ]+ [^ ]+) /\1 profile=$profile /" \
    || die "the peer failed: $(tail -n 5 "$CLUSTER_DIR/peer-0.log")"
) }

# One DistTrain training measurement on a fresh cluster: a coordinator and N workers, a long job, samples/s over a
# window of WINDOW seconds once every rank has trained for WARM seconds; the job is cancelled after.
disttrain_train() { ( # disttrain_train N WARM WINDOW
  local n=$1 warm=$2 window=$3 s0 s1 t0 t1 t
  cluster_up $((n + 1)) "$profile" 2>/dev/null
  cluster_token
  start_workers "$n" 1
  start_coordinator 1
  wait_ready "$n"
  on_host 0 submit dotnet "$DLL" submit --coordinator "$COORDINATOR_URL" --token-file "$CLUSTER_TOKEN" --workers "$n" \
    --dataset "$dataset" --model "$model" --epochs 1000 --threads 1
  for ((t = 0; t < 1200; t++)); do [ "$(samples_trained "$n")" -gt 0 ] && break; sleep 0.5; done
  sleep "$warm"
  s0=$(samples_trained "$n"); t0=$(date +%s%N)
  sleep "$window"
  s1=$(samples_trained "$n"); t1=$(date +%s%N)
  disttrain_on_host0 cancel job-1 >/dev/null 2>&1 || true
  awk -v a="$s0" -v b="$s1" -v t0="$t0" -v t1="$t1" 'BEGIN { if (b > a) printf "%.1f\n", (b - a) / ((t1 - t0) / 1e9) }'
) }

echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(grep -o -m1 'avx512f' /proc/cpuinfo || echo 'no AVX-512'); $(date -u +%F)"
case "$mode" in
  allreduce)
    # allreduce_line LABEL [SCHEME]: DistTrain's best of --repeat runs, as busbw.
    allreduce_line() {
      local seconds
      seconds=$(for ((k = 0; k < repeat; k++)); do disttrain_allreduce "$n" "${2:-http}"; done | sort -g | head -n 1)
      awk -v s="$seconds" -v n="$n" -v mb="$size" -v p="$profile" -v label="$1" 'BEGIN { a = mb * 1048576 / s / 1e9;
        printf "%s allreduce profile=%s world=%d size=%dMB time=%.2fms algbw=%.3fGB/s busbw=%.3fGB/s\n", label, p, n, mb, s * 1e3, a, a * 2 * (n - 1) / n }'
    }
    for profile in $profiles; do
      for n in $workers; do
        allreduce_line disttrain
        if [ "$tls" -eq 1 ]; then allreduce_line disttrain-mtls https; fi
        if [ -n "$peer" ]; then
          for ((k = 0; k < repeat; k++)); do peer_run "$n" allreduce -- "$size" "$iterations"; done | best_line busbw
        fi
      done
    done ;;
  train)
    # Warm-up and window long enough for several steps of the slowest case (imdb-lstm on one thread).
    case "$model" in mnist-cnn) gbatch=128 steps=30 warm=10 window=20 ;; imdb-lstm) gbatch=32 steps=6 warm=20 window=40 ;;
      *) die "--model: mnist-cnn or imdb-lstm" ;; esac
    dataset=${model%%-*}
    ensure_dataset "$dataset"
    for profile in $profiles; do
      for n in $workers; do
        rate=$(for ((k = 0; k < repeat; k++)); do disttrain_train "$n" "$warm" "$window"; done | best)
        echo "disttrain train model=$model profile=$profile world=$n global_batch=$gbatch samples/s=${rate:-failed}"
        if [ -n "$peer" ]; then
          for ((k = 0; k < repeat; k++)); do peer_run "$n" train "$model" -- "$gbatch" "$steps"; done | best_line samples/s
        fi
      done
    done ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
