#!/usr/bin/env bash
# Builds Kubernetes and the components a cluster runs from their Go modules,
# at pinned versions, into OUT in the layout `ksinstall bundle build --from`
# takes (bin/, images/). Nothing is downloaded but Go modules (and, for the
# images' userland, Debian packages through apt). Results are cached by
# version under $KSINSTALL_CACHE (default /var/cache/ksinstall): a second
# build of the same version copies files and compiles nothing.
#
#   scripts/kube/build.sh v1.34.4 OUT        # everything
#   scripts/kube/build.sh v1.34.4 OUT bin    # binaries only (no images)
#   scripts/kube/build.sh v1.35.4 OUT oracle # the test oracles only: kubeadm,
#                                            # kube-apiserver, etcd
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/versions.sh"

usage() { echo "usage: $0 vMAJOR.MINOR.PATCH OUT [all|bin|kube|oracle]" >&2; exit 2; }
[ $# -ge 2 ] || usage
kver="$1"; out="$2"; what="${3:-all}"
case "$what" in all|bin|kube|oracle) ;; *) usage ;; esac
[[ "$kver" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] || { echo "error: version must look like v1.34.4, got '$kver'" >&2; exit 2; }
minor="${BASH_REMATCH[1]}"
pins_for_minor "$minor" || { echo "error: no pinned component versions for Kubernetes 1.$minor (scripts/kube/versions.sh)" >&2; exit 2; }

cache="${KSINSTALL_CACHE:-/var/cache/ksinstall}/kube"
export GOFLAGS="-mod=mod -trimpath -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=local
mkdir -p "$cache" "$out/bin" "$out/images"
log() { printf '== %s %s\n' "$(date +%T)" "$*" >&2; }

# go_build NAME MODULE@VERSION PKG [LDFLAGS] [REPLACE...]: builds one main
# package in a throw-away module that requires MODULE at VERSION (REPLACE:
# `old=new@version` for a dependency version the proxy does not serve);
# cached by name+version.
go_build() {
  local name="$1" modver="$2" pkg="$3" ldflags="${4:-}"; shift 4 || shift $#
  local dst="$cache/bin/$name-${modver##*@}"
  if [ ! -x "$dst" ]; then
    local work="$cache/src/${modver//[\/@]/_}"
    mkdir -p "$work" "$cache/bin"
    if [ ! -f "$work/go.mod" ]; then
      printf 'module ksinstall.local/build\n\ngo 1.24\n' >"$work/go.mod.tmp"
      local r; for r in "$@"; do printf 'replace %s => %s %s\n' "${r%%=*}" "${r#*=}" >>"$work/go.mod.tmp"; done
      sed -i 's/ => \([^ ]*\)@\(v[^ ]*\) $/ => \1 \2/' "$work/go.mod.tmp"
      mv "$work/go.mod.tmp" "$work/go.mod"
      (cd "$work" && go get "$modver" >/dev/null) || { rm -f "$work/go.mod"; return 1; }
    fi
    log "go build $pkg ($modver)"
    # GO_CGO=1: a package with C parts, linked statically all the same.
    local tags=""
    if [ "${GO_CGO:-0}" = 1 ]; then ldflags+=" -linkmode external -extldflags -static"; tags="netgo,osusergo"; fi
    (cd "$work" && CGO_ENABLED="${GO_CGO:-0}" go build -tags "$tags" -ldflags "-s -w $ldflags" -o "$dst.tmp" "$pkg") && mv "$dst.tmp" "$dst"
  fi
  install -m 0755 "$dst" "$out/bin/$name"
}

# Kubernetes' go.mod replaces its ~30 staging modules with local paths, so a
# module of ours replaces each with its published tag (v0.MINOR.PATCH).
kube_module() {
  local work="$cache/src/kubernetes-$kver"
  if [ ! -f "$work/go.sum" ]; then
    mkdir -p "$work"
    local gomod; gomod="$(go mod download -json "k8s.io/kubernetes@$kver" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    { printf 'module ksinstall.local/kubebuild\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes %s\n\n' "$kver"
      sed -n 's#^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 v0'"${kver#v1}"'#p' "$gomod"
    } >"$work/go.mod.tmp"
    mv "$work/go.mod.tmp" "$work/go.mod"
    (cd "$work" && go get "k8s.io/kubernetes@$kver" >/dev/null)
    touch "$work/go.sum"
  fi
  echo "$work"
}

# kube_bin NAME: the cached build of k8s.io/kubernetes/cmd/NAME at $kver.
# The oracles only check what they are given, so they are built without
# optimisation or inlining (a third faster to compile) under a name of
# their own; an optimised build of the same version serves them too.
kube_bin() {
  if [ "$what" = oracle ] && [ ! -x "$cache/bin/$1-$kver" ]; then
    echo "$cache/bin/$1-$kver-noopt"
  else
    echo "$cache/bin/$1-$kver"
  fi
}

kube_bins() {
  local names=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
  # The oracles need only these two (any kubectl is their client).
  [ "$what" = oracle ] && names=(kubeadm kube-apiserver)
  local gcflags=""
  [ "$what" = oracle ] && gcflags="all=-N -l"
  local missing=()
  for n in "${names[@]}"; do [ -x "$(kube_bin "$n")" ] || missing+=("$n"); done
  if [ ${#missing[@]} -gt 0 ]; then
    local work; work="$(kube_module)"
    # The tag's date and commit, from the proxy's .info file.
    local info date commit
    info="$(go mod download -json "k8s.io/kubernetes@$kver" | sed -n 's/.*"Info": "\(.*\)".*/\1/p')"
    date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$info")"
    commit="$(sed -n 's/.*"Hash":"\([0-9a-f]*\)".*/\1/p' "$info")"
    local ld="" p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $p.gitVersion=$kver -X $p.gitMajor=1 -X $p.gitMinor=$minor"
      ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date -X $p.gitCommit=${commit:-0000000000000000000000000000000000000000}"
    done
    for n in "${missing[@]}"; do
      local dst; dst="$(kube_bin "$n")"
      log "go build k8s.io/kubernetes/cmd/$n ($kver${gcflags:+, -gcflags=$gcflags})"
      (cd "$work" && go build -gcflags="$gcflags" -ldflags "-s -w$ld" -o "$dst.tmp" "k8s.io/kubernetes/cmd/$n")
      mv "$dst.tmp" "$dst"
    done
  fi
  # Only what runs on the hosts; the control plane and kube-proxy go into images.
  for n in kubeadm kubelet kubectl; do
    [ -x "$(kube_bin "$n")" ] && install -m 0755 "$(kube_bin "$n")" "$out/bin/$n"
  done
  return 0
}

# tarball NAME DIR FILES...: a release-style .tar.gz of FILES from DIR
tarball() {
  local name="$1" dir="$2"; shift 2
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir" -cf - "$@" | gzip -n >"$out/bin/$name.tmp"
  mv "$out/bin/$name.tmp" "$out/bin/$name"
}

tools_bins() {
  local arch; arch="$(go env GOARCH)"
  local t; t="$(mktemp -d)"
  go_build crictl "sigs.k8s.io/cri-tools@$CRICTL" sigs.k8s.io/cri-tools/cmd/crictl \
    "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL"
  cp "$out/bin/crictl" "$t/crictl" && rm "$out/bin/crictl"
  tarball "crictl-$CRICTL-linux-$arch.tar.gz" "$t" crictl
  rm -f "$t/crictl"
  local p names=(bridge host-local loopback portmap bandwidth firewall tuning)
  for p in "${names[@]}"; do
    local kind=main; [ "$p" = host-local ] && kind=ipam
    [[ "$p" =~ ^(portmap|bandwidth|firewall|tuning)$ ]] && kind=meta
    go_build "$p" "github.com/containernetworking/plugins@$CNI_PLUGINS" \
      "github.com/containernetworking/plugins/plugins/$kind/$p" \
      "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS"
    mv "$out/bin/$p" "$t/$p"
  done
  tarball "cni-plugins-linux-$arch-$CNI_PLUGINS.tgz" "$t" "${names[@]}"
  rm -rf "$t"

  # etcd, where Debian's 3.4 is too old for kubeadm: upstream's release
  # layout (etcd-vX-linux-ARCH/{etcd,etcdctl,etcdutl}).
  if [ -n "${ETCD:-}" ]; then
    t="$(mktemp -d)"; local d="etcd-$ETCD-linux-$arch"; mkdir -p "$t/$d"
    go_build etcd "go.etcd.io/etcd/server/v3@$ETCD" go.etcd.io/etcd/server/v3
    go_build etcdctl "go.etcd.io/etcd/etcdctl/v3@$ETCD" go.etcd.io/etcd/etcdctl/v3
    go_build etcdutl "go.etcd.io/etcd/etcdutl/v3@$ETCD" go.etcd.io/etcd/etcdutl/v3
    mv "$out/bin/etcd" "$out/bin/etcdctl" "$out/bin/etcdutl" "$t/$d/"
    tarball "$d.tar.gz" "$t" "$d"
    rm -rf "$t"
  fi
}

# ---- images -------------------------------------------------------------
# A small base: root's passwd/group entries, /tmp, CA-less. Static Go
# binaries need nothing else.
base_root() {
  local r="$1"
  mkdir -p "$r/etc" "$r/tmp" "$r/usr/local/bin" "$r/var/run"
  chmod 1777 "$r/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  printf 'hosts: files dns\n' >"$r/etc/nsswitch.conf"
}

# Debian packages unpacked into ROOT (the images' userland: iptables for
# kube-proxy and flannel, busybox for the CNI installer's `cp`).
debs_into() {
  local r="$1"; shift
  local d="$cache/debs"; mkdir -p "$d"; chmod 755 "$d"
  local pkg f
  for pkg in "$@"; do
    ls "$d/${pkg}_"*.deb >/dev/null 2>&1 || (cd "$d" && apt-get download -qq "$pkg" >/dev/null) \
      || { echo "error: apt-get download $pkg failed (run apt-get update?)" >&2; exit 1; }
    for f in "$d/${pkg}_"*.deb; do dpkg-deb -x "$f" "$r"; done
  done
  rm -rf "$r/usr/share/doc" "$r/usr/share/man" "$r/usr/share/locale" "$r/usr/share/lintian"
}

IPTABLES_DEBS=(libc6 libgcc-s1 iptables libip4tc2 libip6tc2 libxtables12 libmnl0
  libnetfilter-conntrack3 libnfnetlink0 libnftnl11 netbase conntrack
  libnetfilter-cthelper0 libnetfilter-queue1 ipset libipset13)
# What Debian's update-alternatives would link: the nft backend, as the hosts use.
iptables_links() {
  local r="$1" t
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf "xtables-nft-multi" "$r/usr/sbin/$t"
  done
}

image() {  # REF ROOT ENTRYPOINT_JSON [CMD_JSON]
  local ref="$1"; local file; file="$(image_file "$ref")"
  log "image $ref"
  "$here/oci-image.sh" "$ref" "$2" "$cache/images/$file" "$3" "${4:-null}"
  cp "$cache/images/$file" "$out/images/$file"
}

# cached REF: the image is already in the cache (the layer is reproducible,
# so a rebuild would give the same bytes): copy it and say so.
cached() {
  local file; file="$(image_file "$1")"
  [ -f "$cache/images/$file" ] || return 1
  cp "$cache/images/$file" "$out/images/$file"
}

# The file name ksinstall's bundle expects (bundle::needs::image_file_name).
image_file() {
  local ref="$1" repo tag
  repo="${ref%:*}"; tag="${ref##*:}"
  IFS=/ read -r -a parts <<<"$repo"
  if [ ${#parts[@]} -gt 1 ] && [[ "${parts[0]}" == *.* || "${parts[0]}" == *:* || "${parts[0]}" == localhost ]]; then parts=("${parts[@]:1}"); fi
  if [ ${#parts[@]} -gt 1 ] && [ "${parts[0]}" = library ]; then parts=("${parts[@]:1}"); fi
  local IFS=-; echo "${parts[*]}_$tag.tar"
}

images() {
  local repo="${KUBE_IMAGE_REPO:-registry.k8s.io}" w n
  mkdir -p "$cache/images"
  local all=("$repo/kube-apiserver:$kver" "$repo/kube-controller-manager:$kver" "$repo/kube-scheduler:$kver"
    "$repo/kube-proxy:$kver" "$repo/pause:$PAUSE" "$repo/coredns/coredns:$COREDNS"
    "docker.io/flannel/flannel:$FLANNEL" "docker.io/flannel/flannel-cni-plugin:$FLANNEL_CNI")
  local hit=0
  for n in "${all[@]}"; do cached "$n" && hit=$((hit + 1)); done
  if [ "$hit" = "${#all[@]}" ]; then log "images: all ${#all[@]} from the cache"; return 0; fi
  w="$(mktemp -d)"; trap 'rm -rf "$w"' RETURN
  for n in kube-apiserver kube-controller-manager kube-scheduler; do
    rm -rf "$w/r"; base_root "$w/r"
    install -m 0755 "$cache/bin/$n-$kver" "$w/r/usr/local/bin/$n"
    image "$repo/$n:$kver" "$w/r" "[\"/usr/local/bin/$n\"]"
  done
  rm -rf "$w/r"; base_root "$w/r"; debs_into "$w/r" "${IPTABLES_DEBS[@]}"; iptables_links "$w/r"
  install -m 0755 "$cache/bin/kube-proxy-$kver" "$w/r/usr/local/bin/kube-proxy"
  image "$repo/kube-proxy:$kver" "$w/r" '["/usr/local/bin/kube-proxy"]'

  (cd "$here/pause" && go build -ldflags "-s -w" -o "$w/pause" .)
  rm -rf "$w/r"; base_root "$w/r"; install -m 0755 "$w/pause" "$w/r/pause"
  image "$repo/pause:$PAUSE" "$w/r" '["/pause"]'

  go_build coredns "github.com/coredns/coredns@$COREDNS" github.com/coredns/coredns \
    "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS"
  rm -rf "$w/r"; base_root "$w/r"; mv "$out/bin/coredns" "$w/r/coredns"
  image "$repo/coredns/coredns:$COREDNS" "$w/r" '["/coredns"]'

  # flannel pins a Tencent Cloud SDK release the proxy does not serve; the
  # nearest served one builds the same (only the tencent-vpc backend uses it).
  # Its UDP backend is C (cgo), as in flannel's own builds.
  GO_CGO=1 go_build flanneld "github.com/flannel-io/flannel@$FLANNEL" github.com/flannel-io/flannel \
    "-X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL" \
    "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common=github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common@v1.3.103"
  rm -rf "$w/r"; base_root "$w/r"; debs_into "$w/r" "${IPTABLES_DEBS[@]}" busybox-static; iptables_links "$w/r"
  mkdir -p "$w/r/opt/bin"; mv "$out/bin/flanneld" "$w/r/opt/bin/flanneld"
  ln -sf busybox "$w/r/bin/cp"
  image "docker.io/flannel/flannel:$FLANNEL" "$w/r" null '["/opt/bin/flanneld"]'

  # The flannel CNI plugin lived in containernetworking/plugins until v0.9.1.
  go_build flannel "github.com/containernetworking/plugins@$FLANNEL_CNI_FROM" \
    github.com/containernetworking/plugins/plugins/meta/flannel
  rm -rf "$w/r"; base_root "$w/r"; debs_into "$w/r" busybox-static; ln -sf busybox "$w/r/bin/cp"
  mv "$out/bin/flannel" "$w/r/flannel"
  image "docker.io/flannel/flannel-cni-plugin:$FLANNEL_CNI" "$w/r" null '["/bin/busybox", "sh"]'
}

kube_bins
# The test oracles (a real API server on loopback, with etcd) take these.
mkdir -p "$out/oracle"
install -m 0755 "$(kube_bin kube-apiserver)" "$out/oracle/kube-apiserver"
[ "$what" = kube ] && exit 0
if [ "$what" = oracle ]; then
  go_build etcd "go.etcd.io/etcd/server/v3@$ETCD" go.etcd.io/etcd/server/v3
  mv "$out/bin/etcd" "$out/oracle/etcd"
  log "done: the oracles of $kver in $out"
  exit 0
fi
tools_bins
[ -n "${ETCD:-}" ] && install -m 0755 "$cache/bin/etcd-$ETCD" "$out/oracle/etcd"
[ "$what" = bin ] && exit 0
images
log "done: $(ls "$out/bin" | wc -l) binaries, $(ls "$out/images" | wc -l) images in $out"
