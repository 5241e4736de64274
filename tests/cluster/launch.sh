#!/usr/bin/env bash
# `disttrain launch` across hosts, on the simulated cluster of lib.sh: a coordinator on host 0, and one launch on each
# of hosts 1..N running one copy of the sample program (samples/CustomTraining, built with the solution), every launch
# naming the same coordinator, launch id and world size. Run from the repository root, as root:
#   tests/cluster/launch.sh [--hosts 3] [--profile 1gbit|10gbit] [--min-accuracy 0.93] [--json]
# Checks: every launch exits 0; the copies formed one job of N ranks over their links (their rings bound to 0.0.0.0,
# each advertising its host's address, with the cluster token); rank 0's accuracy reaches --min-accuracy; the job is
# listed under its name. Stops every process it started by PID and removes every namespace it made (lib.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/cluster/lib.sh

hosts=3 profile=1gbit min_accuracy=0.93 json=0
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --min-accuracy) min_accuracy=$2; shift 2 ;;
    --json) json=1; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$hosts" =~ ^[0-9]+$ ]] && [ "$hosts" -ge 2 ] && [ "$hosts" -le 9 ] || die "--hosts must be 2 to 9 (a coordinator and 1 to 8 launches), got '$hosts'"
profile_tbf "$profile" >/dev/null
ranks=$((hosts - 1))
DLL=$(disttrain_dll)
SAMPLE="$PWD/samples/CustomTraining/bin/Release/net10.0/CustomTraining.dll"
[ -f "$SAMPLE" ] || dotnet build samples/CustomTraining -c Release -nologo -v q >/dev/null || die "could not build the sample"
export DISTTRAIN_DATA="${DISTTRAIN_DATA:-$HOME/.cache/disttrain}"

cluster_up "$hosts" "$profile"
cluster_token
start_coordinator 1
wait_healthy 0 "$COORDINATOR_URL"

# One launch per host, each with an empty cache of its own, as separate machines would have.
launch_id="cluster-$CLUSTER_ID"
pids=()
for ((i = 1; i <= ranks; i++)); do
  mkdir -p "$CLUSTER_DIR/h$i"
  on_host "$i" "launch-$i" env DISTTRAIN_DATA="$CLUSTER_DIR/h$i/data" timeout 600 dotnet "$DLL" launch --workers 1 --world-size "$ranks" \
    --launch-id "$launch_id" --coordinator "$COORDINATOR_URL" --token-file "$CLUSTER_TOKEN" --name clusters-across-hosts --json \
    -- dotnet "$SAMPLE" "$PWD/samples/CustomTraining/clusters.csv"
  pids+=("$LAST_PID")
done
for ((i = 1; i <= ranks; i++)); do
  wait "${pids[$((i - 1))]}" || { tail -n 20 "$CLUSTER_DIR"/*.log >&2; die "the launch on host $i failed"; }
done

accuracy=$(grep -h 'val_accuracy' "$CLUSTER_DIR"/launch-*.log | sed -n 's/.*val_accuracy \([0-9.]*\).*/\1/p' | head -n 1)
[ "$(grep -l 'val_accuracy' "$CLUSTER_DIR"/launch-*.log | wc -l)" -eq 1 ] || die "expected rank 0 alone to print its result"
result=$(tail -n 1 "$CLUSTER_DIR/launch-1.log")
echo "$result" | grep -q "\"workers\":$ranks" || die "the job did not run on $ranks ranks: $result"
jobs=$(disttrain_on_host0 jobs --json | tail -n 1)
echo "$jobs" | grep -q '"name":"clusters-across-hosts"' || die "the job is not listed under its name: $jobs"
echo "cluster: launch on $ranks hosts over $profile links, one job of $ranks ranks: val_accuracy $accuracy" >&2
[ "$json" -eq 1 ] && echo "{\"hosts\":$hosts,\"ranks\":$ranks,\"profile\":\"$profile\",\"val_accuracy\":${accuracy:-null},\"job\":$result}"
awk -v a="${accuracy:-0}" -v m="$min_accuracy" 'BEGIN { exit !(a >= m) }' || die "val_accuracy ${accuracy:-missing} < $min_accuracy"

cluster_down || exit 1
