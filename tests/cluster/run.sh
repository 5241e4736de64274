#!/usr/bin/env bash
# A real job on a simulated multi-host cluster: a coordinator on one network namespace and a worker on each of the
# others, every one bound to 0.0.0.0 and advertising its own address in 198.18.0.0/15, joined by a bridge, every link
# shaped (lib.sh). Run from the repository root, as root:
#   tests/cluster/run.sh [--hosts 3] [--profile 1gbit|10gbit] [--model mnist-cnn] [--dataset mnist] [--epochs 5]
#                        [--batch-size N] [--threads 1] [--min-accuracy A] [--no-restart] [--json]
# What it does, and checks on the way:
#   1. starts the workers first: a worker whose coordinator is not up waits for it (alive, not ready);
#   2. starts the coordinator; waits until it and every worker report ready through the gRPC health service;
#   3. unless --no-restart: kills the coordinator (SIGKILL) while the workers wait for a job, checks they are still
#      alive, starts it again on the same state, and waits until every worker is ready again;
#   4. submits the job from the coordinator's host and follows it; workers get the dataset over their shaped links;
#   5. prints the job's figures (one JSON line last with --json) and fails if accuracy < --min-accuracy;
#   6. stops every process it started by PID and removes every namespace it made, also when interrupted, and fails if
#      anything is left. Its logs (under /tmp/dtPID.*) are kept when something failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cluster/lib.sh

hosts=3 profile=1gbit model=mnist-cnn dataset=mnist epochs=5 batch="" threads=1 min_accuracy=0 restart=1 json=0
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --dataset) dataset=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --min-accuracy) min_accuracy=$2; shift 2 ;;
    --no-restart) restart=0; shift ;;
    --json) json=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$hosts" =~ ^[0-9]+$ ]] && [ "$hosts" -ge 2 ] && [ "$hosts" -le 9 ] || die "--hosts must be 2 to 9 (a coordinator and 1 to 8 workers), got '$hosts'"
profile_tbf "$profile" >/dev/null
workers=$((hosts - 1))
DLL=$(disttrain_dll)
# Workers each get an empty cache of their own, as separate machines would.
ensure_dataset "$dataset"

cluster_up "$hosts" "$profile"
cluster_token
start_workers "$workers" "$threads"

# 1. Workers before their coordinator: they serve and wait.
for ((i = 1; i <= workers; i++)); do wait_healthy "$i" "http://$(host_ip "$i"):7000" liveness; done
for ((i = 1; i <= workers; i++)); do
  healthy "$i" "http://$(host_ip "$i"):7000" && die "worker $i reports ready with no coordinator up"
done
echo "cluster: $workers workers up before their coordinator: alive, not ready" >&2

# 2. The coordinator; then everyone ready.
start_coordinator 1
wait_ready "$workers"
echo "cluster: coordinator at $COORDINATOR_URL ready; every worker registered" >&2

# 3. The coordinator dies (SIGKILL) while the workers wait for a job, and comes back on the same state.
if [ "$restart" -eq 1 ]; then
  kill -KILL "$COORDINATOR_PID"; wait "$COORDINATOR_PID" 2>/dev/null || true
  sleep 3
  for pid in "${WORKER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "worker pid $pid died with its coordinator (see $CLUSTER_DIR)"; done
  start_coordinator 2
  wait_ready "$workers"
  echo "cluster: coordinator killed (SIGKILL) and restarted; all $workers workers survived and are ready again" >&2
fi

# 4. The job, submitted from the coordinator's host, followed to its end (bounded).
args=(submit --workers "$workers" --dataset "$dataset" --model "$model"
      --epochs "$epochs" --threads "$threads" --json)
[ -n "$batch" ] && args+=(--batch-size "$batch")
started=$(date +%s%N)
# In the background and waited for, so that Ctrl-C or SIGTERM reaches the trap at once rather than after the job.
on_host 0 submit timeout 3600 dotnet "$DLL" "${args[@]}" --coordinator "$COORDINATOR_URL" --token-file "$CLUSTER_TOKEN"
wait "$LAST_PID" || { tail -n 20 "$CLUSTER_DIR"/*.log >&2; die "the job failed"; }
result=$(tail -n 1 "$CLUSTER_DIR/submit.log")
seconds=$(awk -v a="$started" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')

# 5. Its figures.
accuracy=$(echo "$result" | sed -n 's/.*"test_accuracy":\([0-9.]*\).*/\1/p')
rate=$(echo "$result" | sed -n 's/.*"samples_per_second":\([0-9.]*\).*/\1/p')
echo "cluster: $model on $dataset, $workers workers on $hosts hosts over $profile links: test accuracy $accuracy, ${rate} samples/s, $seconds s" >&2
[ "$json" -eq 1 ] && echo "{\"hosts\":$hosts,\"workers\":$workers,\"profile\":\"$profile\",\"restarted_coordinator\":$([ "$restart" -eq 1 ] && echo true || echo false),\"job\":$result}"
awk -v a="${accuracy:-0}" -v m="$min_accuracy" 'BEGIN { exit !(a >= m) }' || die "test accuracy ${accuracy:-missing} < $min_accuracy"

# 6. cluster_down runs on exit and fails the script if anything is left; the logs go too once all went well.
cluster_down || exit 1
