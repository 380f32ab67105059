#!/usr/bin/env bash
# `ksinstall check` on generated inventories of 1,000 / 10,000 / 50,000
# hosts (3 masters + etcd, the rest workers, every host with its address
# and password), and `ksinstall render` (every file of every host, keys and
# certificates included) up to RENDER_MAX hosts (default 1,000): prints
# wall time and peak memory of each. The target is 10,000 hosts checked
# under a second. Usage: [RENDER_MAX=N] scripts/bench-check.sh [SIZES...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
sizes=("${@:-1000 10000 50000}")
work=$(mktemp -d)
# timed LABEL CMD...: CMD's wall time (and peak memory, with Debian's `time`).
timed() {
  local label=$1; shift
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "$label: %e s wall, %M KB peak" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    tail -1 "$work/err"
  else
    local t0; t0=$(date +%s%N)
    "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    echo "$label: $(( ($(date +%s%N) - t0) / 1000000 )) ms wall"
  fi
}
trap 'rm -rf "$work"' EXIT
for n in ${sizes[*]}; do
  d="$work/h$n"; mkdir -p "$d"
  awk -v n="$n" 'BEGIN {
    print "[all]"
    for (i = 0; i < n; i++) {
      a = 10 + int(i / 65536); b = int(i / 256) % 256; c = i % 256
      printf "node%d ansible_host=10.%d.%d.%d ip=10.%d.%d.%d ansible_ssh_pass=Sphere@2020\n", i, a, b, c, a, b, c
    }
    print "[kube-master]\nnode0\nnode1\nnode2\n[etcd]\nnode0\nnode1\nnode2\n[kube-node]"
    for (i = 3; i < n; i++) printf "node%d\n", i
    print "[k8s-cluster:children]\nkube-node\nkube-master"
  }' >"$d/hosts.ini"
  cp tests/fixtures/seed-root/vars.yml "$d/vars.yml"
  timed "check, $n hosts" target/release/ksinstall check --conf "$d"
  if [ "$n" -le "${RENDER_MAX:-1000}" ]; then
    timed "render, $n hosts" target/release/ksinstall render --conf "$d" -o "$d/rendered"
    echo "  ($(find "$d/rendered" -type f | wc -l) files, $(du -sh "$d/rendered" | cut -f1))"
  fi
done
