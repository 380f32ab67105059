#!/usr/bin/env bash
# `ksinstall check` on generated inventories of 1,000 / 10,000 / 50,000
# hosts (3 masters + etcd, the rest workers, every host with its address
# and password): prints wall time and peak memory of each. The target is
# 10,000 hosts under a second. Usage: scripts/bench-check.sh [SIZES...]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
sizes=("${@:-1000 10000 50000}")
work=$(mktemp -d)
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
  if [ -x /usr/bin/time ]; then  # Debian's `time` package: peak memory too
    /usr/bin/time -f "check, $n hosts: %e s wall, %M KB peak" \
      target/release/ksinstall check --conf "$d" >/dev/null 2>"$d/err" || { cat "$d/err"; exit 1; }
    tail -1 "$d/err"
  else
    TIMEFORMAT="check, $n hosts: %R s wall"
    time (target/release/ksinstall check --conf "$d" >/dev/null 2>"$d/err" || { cat "$d/err"; exit 1; })
  fi
done
