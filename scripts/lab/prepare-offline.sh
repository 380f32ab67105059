#!/usr/bin/env bash
# Prepares an offline install against the running lab:
#   scripts/lab/prepare-offline.sh DIR BIN [KUBE_OUT]
# DIR/debs      Debian packages the hosts need (with their dependencies)
# DIR/images    a small container image (OCI layout, from busybox-static)
# DIR/bundle    the offline bundle ksinstall builds from those
# DIR/installer an installer directory: conf/ for the lab, scripts/, bin/
# With KUBE_OUT (the output of scripts/kube/build.sh) the bundle also
# carries Kubernetes built from source and the conf is a whole cluster
# (KUBE_VERSION, default v1.34.4): flannel, kube-proxy in iptables mode.
set -euo pipefail
dir=$1
bin=$(readlink -f "$2")
# An argument, not the environment: scripts/test.sh exports KUBE_OUT for the
# cluster e2e, and the other lab tests must not pick it up.
KUBE_OUT=${3:-}
here=$(dirname "$(readlink -f "$0")")
root=$(readlink -f "$here/../..")
LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}
mkdir -p "$dir/images" "$dir/installer/conf" "$dir/installer/scripts" "$dir/installer/bin"

# Every package either conf below makes the bundle plan ask for (nfs-common:
# the NFS class's client; docker-registry: a [local-registry] host). .complete
# records the list: a new one refetches.
debs="etcd-server etcd-client containerd runc haproxy socat conntrack ipset ebtables ipvsadm chrony nfs-common docker-registry"
if [ "$(cat "$dir/debs/.complete" 2>/dev/null)" != "$debs" ]; then
  # shellcheck disable=SC2086
  "$here/fetch-debs.sh" "$dir/debs" $debs >/dev/null
  echo "$debs" > "$dir/debs/.complete"
fi
[ -f "$dir/images/busybox.tar" ] || "$here/busybox-image.sh" "$dir/images/busybox.tar" >/dev/null

cp "$LAB_DIR/hosts-ubuntu.ini" "$dir/installer/conf/hosts.ini"
if [ -n "${KUBE_OUT:-}" ]; then
cat > "$dir/installer/conf/vars.yml" <<VARS
# The lab, a whole cluster: Kubernetes built from its Go modules, flannel
# (VXLAN), kube-proxy in iptables mode (the lab's kernel has no IPVS),
# containerd, a local apt repository, no internet.
kube_version: ${KUBE_VERSION:-v1.34.4}
container_manager: containerd
kube_network_plugin: flannel
kube_proxy_mode: iptables
enable_nodelocaldns: false
local_volume_enabled: true
local_volume_is_default_class: true
ks_version: v3.4.1
VARS
else
cat > "$dir/installer/conf/vars.yml" <<'VARS'
# The lab: containerd, a local apt repository, no internet.
kube_version: v1.28.2
etcd_version: v3.4.23
container_manager: containerd
local_volume_enabled: false
local_volume_is_default_class: false
nfs_client_enabled: true
nfs_client_is_default_class: true
nfs_server: 10.77.0.1
nfs_path: /exports/k8s
VARS
fi
for s in install.sh add-nodes.sh uninstall.sh upgrade.sh common.sh; do
  install -m 0755 "$root/scripts/$s" "$dir/installer/scripts/$s"
done
ln -sf "$bin" "$dir/installer/bin/ksinstall"

rm -rf "$dir/bundle"
# Kubernetes binaries and images are not to be had here: --allow-missing.
"$bin" bundle build --conf "$dir/installer/conf" --from "$dir/debs" ${KUBE_OUT:+--from "$KUBE_OUT"} --allow-missing \
  --extra-image "$dir/images/busybox.tar" -o "$dir/bundle"
