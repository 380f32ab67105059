#!/usr/bin/env bash
# Downloads Debian packages and everything they depend on (the whole closure,
# so a host with any subset already installed can install them offline):
#   scripts/lab/fetch-debs.sh OUTDIR PACKAGE...
set -euo pipefail
out=$(readlink -f "$1"); shift
mkdir -p "$out"
chmod 755 "$out"   # apt downloads as the _apt user
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "$@" | grep '^[a-z0-9]' | sort -u)
cd "$out"
# shellcheck disable=SC2086
apt-get download -qq $closure 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
ls "$out"/*.deb | wc -l
