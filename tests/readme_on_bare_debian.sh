#!/usr/bin/env bash
# The README's two commands on a bare Debian 12: a `debootstrap --variant=
# minbase` root with nothing added but Rust (this machine's toolchain,
# mounted read-only) and this machine's CA certificates (a network that
# intercepts TLS needs them, as a company's does), this repository's HEAD
# cloned in; then, as root inside it (chroot, no sudo installed):
#
#   scripts/demo.sh          Go is not in the root: the demo's phases up to
#                            loadbalancer, on its 3 lab hosts
#   scripts/demo.sh          again: the same hosts, nothing changes
#   scripts/test.sh ARGS     every test when no ARGS (lab tests too)
#
#   tests/readme_on_bare_debian.sh [test.sh ARGS...]    as root, no lab up
#
# Everything runs in a mount namespace of its own; the root stays in
# $BARE_DIR (default /var/tmp/ksinstall-bare) for a look, and is removed at
# the start of the next run. debootstrap's output is cached (a tarball).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BARE=${BARE_DIR:-/var/tmp/ksinstall-bare}
CACHE=/var/cache/ksinstall/bare-debian-minbase.tar
[ "$(id -u)" = 0 ] || { echo "readme_on_bare_debian.sh: needs root (debootstrap, chroot, the lab)" >&2; exit 1; }
if [ -e /run/ksinstall-lab.dir ]; then
  echo "readme_on_bare_debian.sh: a lab is up here (scripts/lab.sh down): the root's lab would take its names" >&2
  exit 1
fi
t0=$(date +%s)
say() { printf '\n\033[1m== [%4ss] %s\033[0m\n' "$(( $(date +%s) - t0 ))" "$*"; }

root=$BARE/root
rm -rf "$BARE"; mkdir -p "$root" "$(dirname "$CACHE")"
if [ ! -s "$CACHE" ]; then
  say "debootstrap --variant=minbase bookworm (cached after this)"
  timeout 1800 debootstrap --variant=minbase bookworm "$root" "$(scripts/lab/mirror.sh)" >"$BARE/debootstrap.log" 2>&1 \
    || { tail -20 "$BARE/debootstrap.log"; exit 1; }
  tar -C "$root" -cf "$CACHE.tmp" . && mv "$CACHE.tmp" "$CACHE"
else
  say "the minbase root from $CACHE"
  tar -C "$root" -xf "$CACHE"
fi
for tool in sudo gcc cc python3 pkg-config git go; do
  if chroot "$root" sh -c "command -v $tool" >/dev/null 2>&1; then
    echo "the bare root has $tool: it is not bare" >&2; exit 1
  fi
done

say "Rust (read-only), the CA certificates, apt's sources, a clone of HEAD"
mkdir -p "$root/opt/rustup" "$root/opt/cargo-bin" "$root/root/.cargo" "$root/work"
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/" 2>/dev/null || true
cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/" 2>/dev/null \
  && rm -f "$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp /etc/pip.conf "$root/etc/pip.conf" 2>/dev/null || true
git clone -q "$REPO" "$root/work/ksinstall"
git -C "$REPO" diff --quiet HEAD || echo "note: uncommitted changes in $REPO are not in the clone"

args=""; [ $# -eq 0 ] || args=$(printf '%q ' "$@")
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin
# Inside: root's ordinary environment, with Rust on PATH. No terminal for
# the commands is needed; their output goes here and to $BARE/run.log.
inner=$(cat <<EOF
set -euo pipefail
export HOME=/root PATH=/opt/cargo-bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export RUSTUP_HOME=/opt/rustup CARGO_HOME=/root/.cargo RUSTUP_TOOLCHAIN=stable LANG=C.UTF-8
cd /work/ksinstall
t=\$(date +%s); scripts/demo.sh; echo "== the first demo.sh took \$(( \$(date +%s) - t )) s"
t=\$(date +%s); scripts/demo.sh; echo "== the second demo.sh took \$(( \$(date +%s) - t )) s"
scripts/demo.sh down
t=\$(date +%s); rc=0; scripts/test.sh $args || rc=\$?
echo "== scripts/test.sh took \$(( \$(date +%s) - t )) s, rc=\$rc"; exit \$rc
EOF
)
say "inside: scripts/demo.sh (twice), then scripts/test.sh $*"
rc=0
unshare --mount --propagation private bash -c '
  set -e; r=$1; shift
  # The root a mount point of its own, as / is on a machine (the lab makes
  # its mounts private and slave from /).
  mount --bind "$r" "$r"
  mount --rbind /dev "$r/dev"; mount --rbind /sys "$r/sys"; mount -t proc proc "$r/proc"
  mount -t tmpfs -o mode=755 tmpfs "$r/run"; mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
  mount --bind -o ro "$2" "$r/opt/rustup"; mount --bind -o ro "$3" "$r/opt/cargo-bin"
  exec chroot "$r" env -i bash -c "$1"
' _ "$root" "$inner" "$rustup_home" "$cargo_bin" 2>&1 | tee "$BARE/run.log" || rc=$?
say "done: rc=$rc (log: $BARE/run.log)"
exit "$rc"
