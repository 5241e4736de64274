#!/usr/bin/env bash
# tools/apt-install.sh WHO PACKAGE...: installs the Debian packages a script needs and the machine lacks (the caller
# decides which), with apt, as root or through sudo; otherwise says what to install and fails. WHO names the caller
# in its messages. Used by test.sh and deploy/validate/run.sh.
set -euo pipefail
who=$1; shift
[ $# -gt 0 ] || exit 0
need() { command -v "$1" >/dev/null 2>&1; }
if [ "$(id -u)" -eq 0 ]; then sudo=(); elif need sudo; then sudo=(sudo); else
  echo "$who: needs $*; install them (Debian: apt-get install $*) or run this as root" >&2
  exit 1
fi
need apt-get || { echo "$who: needs $*, and this is not a Debian-like system; install them and run again" >&2; exit 1; }
echo "== apt-get install $*"
"${sudo[@]}" apt-get update >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null
