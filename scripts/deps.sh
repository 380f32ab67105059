#!/usr/bin/env bash
# Installs what building and testing ksinstall need on Debian 12, as root
# (no sudo needed). What is present is left alone: a second run installs
# nothing. Rust (and Go, for Kubernetes built from source) are the
# machine's toolchains and are not installed here.
#
#   scripts/deps.sh             everything: build, lab, tests
#   scripts/deps.sh build lab   only these parts (scripts/demo.sh)
#
# Parts:
#   build   what `cargo build` links and compiles against (OpenSSL, libssh2,
#           a C compiler) and the CA certificates its downloads need
#   lab     what scripts/lab.sh needs for its test hosts (its `deps`), sudo
#   tests   the render tests' config checkers (haproxy, keepalived, nginx,
#           containerd, systemd-analyze, openssl), dpkg-dev (an apt index
#           oracle), rpm, createrepo-c and dnf (RPMs built, indexed and read
#           by dnf: tests/bundle_rpm.rs), Python venvs: ansible-core
#           (the inventory oracle) and kubernetes-validate (the schemas)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "deps.sh: run as root (it installs Debian packages)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
parts=("$@"); [ ${#parts[@]} -gt 0 ] || parts=(build lab tests)

BUILD_DEBS=(ca-certificates pkg-config libssl-dev libssh2-1-dev gcc libc6-dev)
# The lab's own tools come with `scripts/lab.sh deps`; sshd serves the
# loopback SSH tests.
LAB_DEBS=(sudo openssh-server)
TEST_DEBS=(python3-venv dpkg-dev rpm createrepo-c dnf haproxy keepalived containerd nginx-light libnginx-mod-stream systemd openssl)

# apt_install PKG...: those not installed yet, with apt's lists fetched when
# there are none (a fresh debootstrap) or an install fails on old ones.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q ' installed$' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  echo "== deps: apt-get install ${missing[*]}"
  ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

# venv DIR REQUIREMENT BIN: a venv holding REQUIREMENT, made when DIR/bin/BIN is missing.
venv() {
  [ -x "$1/bin/$3" ] && return 0
  echo "== deps: $1 with $2"
  python3 -m venv "$1"
  "$1/bin/pip" install --quiet "$2"
}

for part in "${parts[@]}"; do
  case "$part" in
    build) apt_install "${BUILD_DEBS[@]}" ;;
    lab)
      apt_install "${LAB_DEBS[@]}"
      scripts/lab.sh deps >/dev/null ;;
    tests)
      apt_install "${TEST_DEBS[@]}"
      venv .venv 'ansible-core==2.19.14' ansible-inventory
      venv .venv-k8s-new 'kubernetes-validate==1.37.0' kubernetes-validate
      venv .venv-k8s-old 'kubernetes-validate==1.24.1' kubernetes-validate ;;
    *) echo "deps.sh: unknown part '$part' (build, lab, tests)" >&2; exit 2 ;;
  esac
done
