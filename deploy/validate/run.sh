#!/usr/bin/env bash
# Offline checks of the deployment files (Dockerfile, deploy/docker-compose.yml, k8s/, deploy/prometheus/, the Grafana
# dashboard), and proof that the checks reject the broken files in deploy/validate/broken/. Run from anywhere:
#   deploy/validate/run.sh
# Installs what it needs and the machine lacks: the npm packages pinned in package-lock.json (npm ci, into
# deploy/validate/node_modules, again only when the lock file changes), and with Debian's apt (as root, or through
# sudo) Node.js, docker-compose and promtool (package prometheus). kubectl is expected (its kustomize renders k8s/);
# Debian's kubectl is too old for this kustomization, so without one the run fails and says so.
# Prints one line per file checked and a summary; exits non-zero on any failure. Nothing here uses the network
# beyond those installs.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=deploy/validate

need() { command -v "$1" >/dev/null 2>&1; }
has_compose() { need docker-compose || { need docker && docker compose version >/dev/null 2>&1; }; }

missing=()
{ need node && need npm; } || missing+=(nodejs npm)
has_compose || missing+=(docker-compose)
need promtool || missing+=(prometheus)
bash tools/apt-install.sh deploy/validate "${missing[@]}"
if ! need kubectl && ! need kustomize; then
  echo "deploy/validate: kubectl is needed to render k8s/ (kubectl kustomize); install kubectl 1.27 or later, or kustomize 5" >&2
  exit 1
fi

# The checker's packages, exactly as locked. The stamp keeps repeated runs to seconds.
stamp="$here/node_modules/.installed-from-lock"
lock_sum=$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "== npm ci (deploy/validate)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > "$stamp"
fi

node "$here/check.js"
