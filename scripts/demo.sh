#!/usr/bin/env bash
# Try ksinstall on three throw-away machines, without any of your own:
#
#   sudo scripts/demo.sh           lab of 3 hosts, offline bundle, multi-node install;
#                                  run again: the same hosts, and nothing changes
#   sudo scripts/demo.sh --fresh   new hosts, a fresh install
#   sudo scripts/demo.sh down      tear the lab down
#
# The three hosts are Linux namespaces running Debian 12 with systemd and
# sshd (scripts/lab.sh). node1 is master + etcd, node1-3 run workloads. The
# install runs offline from a bundle built here: Debian's packages, and with
# Go on this machine, Kubernetes v1.34.4 built from its Go modules
# (scripts/kube/build.sh: about 25 minutes the first time, cached after) —
# then every phase runs and the end shows the nodes Ready. Without Go the
# phases that need Kubernetes' own binaries are left out (up to
# `loadbalancer`). The KubeSphere console's image cannot be built here.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD
DEMO_DIR=${DEMO_DIR:-/var/tmp/ksinstall-demo}
export LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}
KUBE_VERSION=v1.34.4
KUBE_OUT=${KUBE_OUT:-/var/cache/ksinstall/kube-out/$KUBE_VERSION}

fresh=0
case "${1:-up}" in
  down) scripts/lab.sh down; exit 0 ;;
  --fresh) fresh=1 ;;
  up) ;;
  *) echo "demo.sh: unknown argument '$1' (usage: demo.sh [--fresh|down])" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh needs root: it creates network namespaces and mounts for the lab hosts." >&2
  exit 1
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "host packages the lab and the build need (scripts/deps.sh build lab)"
scripts/deps.sh build lab
# The offline bundle is built from Debian packages: apt needs its lists
# (deps.sh fetches them only when it installs something).
ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq

step "building ksinstall (cargo build --release)"
cargo build --release
BIN=$ROOT/target/release/ksinstall

command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
kube=()
if command -v go >/dev/null; then
  step "Kubernetes $KUBE_VERSION from its Go modules -> $KUBE_OUT (cached after the first time)"
  scripts/kube/build.sh "$KUBE_VERSION" "$KUBE_OUT" 2>&1 | grep '^==' || { echo "scripts/kube/build.sh failed" >&2; exit 1; }
  kube=("$KUBE_OUT")
else
  step "no Go here: the phases from control-plane on are left out (see README)"
fi

# A second demo reuses the hosts and the installer directory: the install
# then finds everything in place and changes nothing.
again=0
if [ "$fresh" = 0 ] && [ -f "$DEMO_DIR/.installed" ] && scripts/lab.sh status 2>/dev/null | grep -q "node3"; then
  again=1
  step "reusing the 3 lab hosts and $DEMO_DIR (--fresh for new ones)"
else
  step "starting 3 lab hosts (systemd + sshd)"
  rm -f "$DEMO_DIR/.installed"
  scripts/lab.sh up 3 --systemd --force
  step "building the offline bundle"
  KUBE_VERSION=$KUBE_VERSION scripts/lab/prepare-offline.sh "$DEMO_DIR" "$BIN" "${kube[@]}"
fi

until=()
[ ${#kube[@]} -gt 0 ] || until=(--until loadbalancer)
step "installing (multi-node, offline${until[*]:+, until phase loadbalancer})"
# Disk: the lab hosts see this machine's disk, which may be small;
# KubeSphereImage, StorageImage: the console's and the storage
# provisioners' images cannot be built here.
# Straight to the terminal (a pipe would hold back the banners and turn
# the live progress lines off); the figures are read from the run log.
ip netns exec lab "$BIN" install --mode multi-node --yes \
  --conf "$DEMO_DIR/installer/conf" --bundle "$DEMO_DIR/bundle" \
  --known-hosts "$LAB_DIR/known_hosts" "${until[@]}" \
  --ignore-errors Disk,KubeSphereImage,StorageImage
touch "$DEMO_DIR/.installed"
if [ "$again" = 1 ]; then
  log=$(ls -t "$DEMO_DIR"/installer/logs/Install*.log | head -1)
  step "a second run: $(grep -o 'finished: .*changed=[0-9]*' "$log" | grep -o 'changed=[0-9]*' | tail -1) (0 means nothing was touched)"
fi

if [ ${#kube[@]} -gt 0 ]; then
  step "the cluster, from this machine"
  KUBECTL="ip netns exec lab $KUBE_OUT/bin/kubectl --kubeconfig $DEMO_DIR/installer/kubesphere/config"
  for _ in $(seq 1 60); do $KUBECTL get nodes 2>/dev/null | grep -q ' Ready' && break; sleep 5; done
  $KUBECTL get nodes -o wide
  $KUBECTL get pods -A
fi

cat <<EOF

Done. Look around:
  ${KUBECTL:-ip netns exec lab $BIN run -i $DEMO_DIR/installer/conf/hosts.ini -b --known-hosts $LAB_DIR/known_hosts -- hostname}${KUBECTL:+ get pods -A}
  scripts/lab.sh shell node2            # a shell on a worker
  ls $DEMO_DIR/installer/logs/           # what ran where (one log a run)
  sudo scripts/demo.sh                   # again: the same hosts, nothing changes
Tear down: sudo scripts/demo.sh down
EOF
