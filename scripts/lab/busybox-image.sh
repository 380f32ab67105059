#!/usr/bin/env bash
# Builds a small container image in OCI layout from Debian's busybox-static,
# as a tarball `ctr images import` accepts: scripts/lab/busybox-image.sh OUT.tar
# The image is named docker.io/ksinstall/busybox:1.0.
set -euo pipefail
out=$(readlink -f "$1")
work=$(mktemp -d)
chmod 755 "$work"  # apt downloads as the _apt user
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download -qq busybox-static >/dev/null
dpkg-deb -x busybox-static_*.deb pkg
mkdir -p rootfs/bin layout/blobs/sha256
cp pkg/bin/busybox rootfs/bin/busybox
ln -s busybox rootfs/bin/sh
# A reproducible layer: fixed owner and times.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C rootfs -cf layer.tar .
diff_id=$(sha256sum layer.tar | cut -c1-64)
gzip -n -9 layer.tar
layer=$(sha256sum layer.tar.gz | cut -c1-64)
layer_size=$(stat -c %s layer.tar.gz)
mv layer.tar.gz "layout/blobs/sha256/$layer"
arch=$(dpkg --print-architecture)
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$arch" "$diff_id" > config.json
config=$(sha256sum config.json | cut -c1-64)
config_size=$(stat -c %s config.json)
mv config.json "layout/blobs/sha256/$config"
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" > manifest.json
manifest=$(sha256sum manifest.json | cut -c1-64)
manifest_size=$(stat -c %s manifest.json)
mv manifest.json "layout/blobs/sha256/$manifest"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"docker.io/ksinstall/busybox:1.0","org.opencontainers.image.ref.name":"1.0"}}]}' \
  "$manifest" "$manifest_size" "$arch" > layout/index.json
echo '{"imageLayoutVersion":"1.0.0"}' > layout/oci-layout
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C layout -cf "$out" .
echo "$out"
