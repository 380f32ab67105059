#!/usr/bin/env bash
# ksinstall at hundreds of hosts, on the lab (tiny mode: real sshd, the
# `ubuntu` login whose sudo asks for its password): for each size N, a lab of
# N hosts with two of them killed (sshd gone), then from the taskbox side
# `ksinstall plan --until os` and `ksinstall install --until os` (facts,
# preflight, the os phase: hostname, kernel settings, /etc/hosts block) with
# the two dead hosts' `Reach` errors ignored, then the same install again
# (a re-run). Prints per run: wall time, peak RSS of ksinstall, hosts ok /
# changed / failed (the dead two must be the only failures); the lab is
# taken down after. Needs root. Usage: scripts/bench-scale.sh [N...]
# (default 200 500); BENCH_SCALE_PLAN_ONLY=1 runs the plan alone.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-scale: needs root (the lab)" >&2; exit 1; }
cargo build --release --quiet
bin=$PWD/target/release/ksinstall
sizes=("${@:-200 500}")
work=$(mktemp -d /var/tmp/ksinstall-bench-scale.XXXXXX)
trap 'scripts/lab.sh down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}

# run LABEL ARGS...: ksinstall ARGS in the lab netns, timed; one result line.
run() {
  local label=$1; shift
  local out=$work/out rc=0
  ip netns exec lab /usr/bin/time -f '%e %M' -o "$work/time" "$bin" "$@" \
    --conf "$work/installer/conf" --known-hosts "$work/known_hosts" >"$out" 2>&1 || rc=$?
  read -r wall rss < <(tail -1 "$work/time")
  local failed totals
  failed=$( { grep -o '^\[ERROR [A-Za-z]*\] phase [a-z-]*, host [a-z0-9]*' "$out" || true; } | awk '{print $NF}' | sort -u | tr '\n' ' ')
  # The os phase's progress lines: [k/N] HOST: STATUS.
  totals=$(awk '/^== os:/ {on = 1; next} on && /^\[[0-9]+\/[0-9]+\] / {split($0, a, ": "); sub(/[ (].*/, "", a[2]); n[a[2]]++} on && /^(== |$)/ {on = 0}
                END {for (s in n) printf "%s %d, ", s, n[s]}' "$out")
  printf '%-28s %7.1f s  %6d MB peak  rc=%d  %s  failed: %s\n' "$label" "$wall" $((rss / 1024)) "$rc" \
    "$totals" "${failed:-none}"
  cp "$out" "/var/tmp/bench-scale-last.log"
}

printf '%-28s %9s  %14s\n' "run" "wall" "ksinstall RSS"
for n in ${sizes[*]}; do
  scripts/lab.sh up "$n" --force >/dev/null
  rm -rf "$work/installer" "$work/known_hosts"
  mkdir -p "$work/installer/conf"
  # node1 master + etcd, the rest workers; the lab's [all] section as is.
  awk '/^\[kube-master\]/ {exit} {print}' "$LAB_DIR/hosts-ubuntu.ini" >"$work/installer/conf/hosts.ini"
  { echo "[kube-master]"; echo node1; echo "[etcd]"; echo node1; echo "[kube-node]"
    for ((k = 2; k <= n; k++)); do echo "node$k"; done
    echo "[k8s-cluster:children]"; echo kube-node; echo kube-master; } >>"$work/installer/conf/hosts.ini"
  printf 'kube_version: v1.34.4\netcd_version: v3.6.8\ncontainer_manager: containerd\n' >"$work/installer/conf/vars.yml"
  scripts/lab.sh kill "node$n" >/dev/null
  scripts/lab.sh kill "node$((n - 1))" >/dev/null
  # The lab's hosts are namespaces on this 2-core machine: their CPU count,
  # memory and init are this machine's, named and ignored here.
  ignore=Reach,CPU,Memory,Disk,InitSystem,MissingTool,KubeBinaries,ImagesMissing
  run "plan --until os, $n hosts" plan --until os --ignore-errors "$ignore"
  [[ ${BENCH_SCALE_PLAN_ONLY:-0} == 1 ]] || {
    run "install --until os, $n hosts" install --until os --yes --ignore-errors "$ignore"
    run "  again (re-run)" install --until os --yes --ignore-errors "$ignore"
  }
  scripts/lab.sh down >/dev/null
done
