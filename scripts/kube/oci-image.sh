#!/usr/bin/env bash
# Packs a directory into a single-layer container image in OCI layout, as a
# tarball `ctr images import` and `docker load` accept:
#   scripts/kube/oci-image.sh REF ROOTFS OUT.tar ENTRYPOINT_JSON [CMD_JSON]
# e.g. oci-image.sh registry.k8s.io/pause:3.10.1 root out.tar '["/pause"]'
# The layer is reproducible: sorted names, owner root, mtime 0.
set -euo pipefail
ref=$1 root=$2 out=$3 entrypoint=${4:-null} cmd=${5:-null}
[[ $ref == *:* ]] || { echo "oci-image: reference needs a tag: $ref" >&2; exit 2; }
tag=${ref##*:}
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/layout/blobs/sha256"
blob() {  # FILE -> moves it into blobs, prints "digest size"
  local d s; d=$(sha256sum "$1" | cut -c1-64); s=$(stat -c %s "$1")
  mv "$1" "$work/layout/blobs/sha256/$d"; echo "$d $s"
}
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$root" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -c1-64)
gzip -n -6 "$work/layer.tar"
read -r layer layer_size < <(blob "$work/layer.tar.gz")
printf '{"architecture":"%s","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"Cmd":%s},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$arch" "$entrypoint" "$cmd" "$diff_id" > "$work/config.json"
read -r config config_size < <(blob "$work/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" > "$work/manifest.json"
read -r manifest manifest_size < <(blob "$work/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
  "$manifest" "$manifest_size" "$arch" "$ref" "$tag" > "$work/layout/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
# docker-archive's manifest too, so `docker load` (20.10 reads no OCI index) takes it
printf '[{"Config":"blobs/sha256/%s","RepoTags":["%s"],"Layers":["blobs/sha256/%s"]}]' \
  "$config" "$ref" "$layer" > "$work/layout/manifest.json"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/layout" -cf "$out.tmp" .
mv "$out.tmp" "$out"
