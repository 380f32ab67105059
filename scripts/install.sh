#!/usr/bin/env bash
# KubeSphere installer entry point, compatible with the legacy scripts/install.sh:
# the same menu, arguments and prompts, run from the scripts/ directory or
# anywhere else. The work is done by the ksinstall binary; this script keeps
# the interface operators know, and unlike the original it exits non-zero
# (and says which phase, which host, what to do) when anything fails.
set -u

BASE_FOLDER=$(dirname "$(readlink -f "$0")")
# shellcheck source=scripts/common.sh
. "$BASE_FOLDER/common.sh"

usage() {
  cat <<'USAGE'
Examples:
    # default install ,then choice all-in-one or multi-node
    ./install.sh
    # install all-in-one
    ./install.sh all-in-one
    # install multi-node
    ./install.sh multi-node
Usage:
  ./install.sh [MODE] 
Description:
     MODE : Value is default or all-in-one or multi-node install.
USAGE
}

menu() {
  clear 2>/dev/null || true
  cyan "################################################"
  cyan "         KubeSphere Installer Menu"
  cyan "################################################"
  echo "*   1) All-in-one"
  echo "*   2) Multi-node"
  echo "*   3) Quit"
  cyan "################################################"
  echo "https://kubesphere.io/               $(date +%Y-%m-%d)"
  cyan "################################################"
}

# Multi-node needs shared storage configured before anything starts.
storage_question() {
  local answer
  while true; do
    read -r -p "Have you configured storage parameters in conf/vars.yml yet?  (yes/no) " answer || return 1
    case "$answer" in
      yes) return 0 ;;
      no)
        echo "Please configure the storage parameters in conf/vars.yml (exactly one default storage class), then run ./install.sh again."
        return 1
        ;;
    esac
  done
}

run_install() {
  run_verb Install install --mode "$1" --yes
}

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  usage
  exit 0
fi
case "${1:-}" in
  -*)
    echo "install.sh: unknown option '$1'" >&2
    usage
    exit 2
    ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  cyan "Please install KubeSphere using the root user !"
  exit 1
fi

case "${1:-}" in
  all-in-one) run_install all-in-one ;;
  multi-node)
    storage_question || exit 1
    run_install multi-node
    ;;
  "") ;;
  *)
    echo "install.sh: unknown mode '$1' (all-in-one or multi-node)" >&2
    red_white "failed!,Parameter is wrong , Please check parameter is one or all"
    usage
    exit 2
    ;;
esac

while true; do
  menu
  read -r -p "Please input an option: " option || exit 1
  echo "$option"
  case "$option" in
    1) run_install all-in-one ;;
    2)
      storage_question || exit 1
      run_install multi-node
      ;;
    3)
      printf '\033[30;47m%s\033[0m\n' "quit successsful!!"
      exit 0
      ;;
  esac
done
