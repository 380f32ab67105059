#!/usr/bin/env bash
# Time `lab.sh up` for a few sizes (default: 5 20 100 tiny, 3 20 systemd) and
# print one line each: wall time of `up` (rootfs cache already built), the
# phases lab.sh reports, PSS of the lab's processes per host, and `down` time.
# Tears down any lab that is up first. Needs root.
#   scripts/lab/bench.sh [SIZE[:systemd]]...
set -euo pipefail
LAB=$(dirname "$(readlink -f "$0")")/../lab.sh
sizes=("$@")
(( ${#sizes[@]} )) || sizes=(5 20 100 3:systemd 20:systemd)
"$LAB" down >/dev/null
"$LAB" rootfs >/dev/null
printf '# load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
for s in "${sizes[@]}"; do
    n=${s%%:*} args=()
    [[ $s == *:systemd ]] && args=(--systemd)
    t0=${EPOCHREALTIME/./}
    out=$("$LAB" up "$n" "${args[@]}" 2>&1) || { echo "$out"; "$LAB" down; exit 1; }
    t1=${EPOCHREALTIME/./}
    up_line=$(grep '^lab up:' <<<"$out")
    mem_line=$(grep '^memory:' <<<"$out")
    t2=${EPOCHREALTIME/./}
    "$LAB" down >/dev/null
    t3=${EPOCHREALTIME/./}
    printf '%-14s up %6.2fs  down %5.2fs  | %s | %s\n' "$n ${args[*]:-tiny}" \
        "$(( t1 - t0 ))e-6" "$(( t3 - t2 ))e-6" "${up_line#lab up: }" "${mem_line#memory: }"
done
printf '# load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
