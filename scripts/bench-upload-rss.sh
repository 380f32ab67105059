#!/usr/bin/env bash
# Peak memory of the installer while it uploads one large file to N lab
# hosts at once: `ksinstall copy`, which takes the path every bundle file
# takes in an install (checked once, then streamed to each host from disk).
# Prints, for each host count, wall time and peak RSS (/usr/bin/time -v):
# the figure must stay flat as hosts are added, and far below the file.
# It is a benchmark printing figures, not a timed test.
#
#   scripts/bench-upload-rss.sh [--size-mb 1024] [--hosts "1 5 10 20"]
#                               [--bin PATH] [--use-running-lab]
#
# Needs root (the lab). Starts `scripts/lab.sh up MAX --force` (tiny hosts)
# unless --use-running-lab; the file lands in /var/tmp on each host and is
# removed after each count, so the lab's disk holds at most MAX copies.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=1024
HOSTS="1 5 10 20"
BIN=""
USE_RUNNING=0
while (( $# )); do
  case $1 in
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --hosts) HOSTS=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --use-running-lab) USE_RUNNING=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $EUID -eq 0 ]] || { echo "bench-upload-rss: needs root (the lab)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench-upload-rss: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN=$PWD/target/release/ksinstall
fi
max=0; for n in $HOSTS; do (( n > max )) && max=$n; done
[ "$USE_RUNNING" = 1 ] || scripts/lab.sh up "$max" --force >/dev/null
LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}
# shellcheck disable=SC1091
. "$LAB_DIR/lab.env"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
big="$work/big.bin"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$big"
dest=/var/tmp/ksinstall-bench-upload.bin
common=(-i "$LAB_INVENTORY_KEY" --known-hosts "$LAB_KNOWN_HOSTS" --log-dir "$work/logs" -q)
echo "one file of $SIZE_MB MiB to N hosts at once ($BIN)"
printf '%6s  %10s  %14s  %12s\n' hosts "wall (s)" "peak RSS (MB)" "MB/s sent"
for n in $HOSTS; do
  limit=$(seq -f 'node%g' 1 "$n" | paste -sd,)
  ip netns exec "$LAB_NETNS" /usr/bin/time -f '%e %M' -o "$work/time" \
    "$BIN" copy "${common[@]}" -l "$limit" "$big" "$dest" >"$work/out" 2>&1 \
    || { cat "$work/out"; exit 1; }
  read -r wall kb <"$work/time"
  printf '%6s  %10s  %14s  %12s\n' "$n" "$wall" "$((kb / 1024))" \
    "$(awk -v s="$SIZE_MB" -v n="$n" -v w="$wall" 'BEGIN { printf "%.0f", s * n / (w > 0 ? w : 1) }')"
  ip netns exec "$LAB_NETNS" "$BIN" run "${common[@]}" -l "$limit" -- rm -f "$dest" >/dev/null
done
[ "$USE_RUNNING" = 1 ] || scripts/lab.sh down >/dev/null
