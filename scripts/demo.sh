#!/usr/bin/env bash
# Try ksinstall on three throw-away machines, without any of your own:
#
#   sudo scripts/demo.sh          lab of 3 hosts, offline bundle, multi-node install
#   sudo scripts/demo.sh down     tear the lab down
#
# The three hosts are Linux namespaces running Debian 12 with systemd and
# sshd (scripts/lab.sh). node1 is master + etcd, node2 and node3 are workers.
# The install runs offline from a bundle built here from Debian packages, as
# far as those packages go: OS preparation, containerd with an image imported,
# a TLS etcd cluster, and the workers' API load balancer. The phases that need
# Kubernetes' own binaries (kubeadm, kubelet) are not run: no package registry
# reachable here carries them (see README).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
ROOT=$PWD
DEMO_DIR=${DEMO_DIR:-/var/tmp/ksinstall-demo}
export LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}
UNTIL=${UNTIL:-loadbalancer}

if [ "${1:-up}" = "down" ]; then
  scripts/lab.sh down
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh needs root: it creates network namespaces and mounts for the lab hosts." >&2
  exit 1
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "host packages the lab needs"
scripts/lab.sh deps
# The offline bundle is built from Debian packages: apt needs its lists.
ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq

step "building ksinstall"
cargo build --release --quiet
BIN=$ROOT/target/release/ksinstall

step "starting 3 lab hosts (systemd + sshd)"
scripts/lab.sh up 3 --systemd --force

step "building the offline bundle from Debian packages"
scripts/lab/prepare-offline.sh "$DEMO_DIR" "$BIN"

step "installing (multi-node, offline, until phase '$UNTIL')"
ip netns exec lab "$BIN" install --mode multi-node --yes \
  --conf "$DEMO_DIR/installer/conf" --bundle "$DEMO_DIR/bundle" \
  --known-hosts "$LAB_DIR/known_hosts" --until "$UNTIL" \
  --ignore-errors Disk   # the lab hosts see this machine's disk, which may be small

step "what each host runs now"
ip netns exec lab "$BIN" run -q -i "$DEMO_DIR/installer/conf/hosts.ini" -b \
  --known-hosts "$LAB_DIR/known_hosts" -- \
  'echo "$(hostname): containerd=$(systemctl is-active containerd) etcd=$(systemctl is-active etcd 2>/dev/null || true) haproxy=$(systemctl is-active haproxy 2>/dev/null || true)"'
ETCDCTL='ETCDCTL_API=3 etcdctl --endpoints=https://10.77.0.11:2379 --cacert=/etc/ssl/etcd/ssl/ca.pem --cert=/etc/ssl/etcd/ssl/admin-node1.pem --key=/etc/ssl/etcd/ssl/admin-node1-key.pem'
ip netns exec lab "$BIN" run -i "$DEMO_DIR/installer/conf/hosts.ini" -g etcd -b \
  --known-hosts "$LAB_DIR/known_hosts" -- "$ETCDCTL endpoint health && $ETCDCTL member list"

cat <<EOF

Done. Look around:
  ip netns exec lab $BIN run -i $DEMO_DIR/installer/conf/hosts.ini -g etcd -b --known-hosts $LAB_DIR/known_hosts -- '$ETCDCTL endpoint health'
  scripts/lab.sh shell node2            # a shell on a worker
  cat $DEMO_DIR/installer/logs/*.log     # what ran where
  ip netns exec lab $BIN plan --conf $DEMO_DIR/installer/conf --bundle $DEMO_DIR/bundle --known-hosts $LAB_DIR/known_hosts --until $UNTIL --ignore-errors Disk
                                        # a second run would change nothing
Tear down: sudo scripts/demo.sh down
EOF
