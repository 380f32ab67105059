#!/usr/bin/env bash
# KubeSphere installer entry point, compatible with the legacy scripts/install.sh:
# the same menu, arguments and prompts, run from the scripts/ directory or
# anywhere else. The work is done by the ksinstall binary; this script keeps
# the interface operators know, and unlike the original it exits non-zero
# (and says which phase, which host, what to do) when anything fails.
set -u

BASE_FOLDER=$(dirname "$(readlink -f "$0")")
INSTALLER_DIR=$(readlink -f "$BASE_FOLDER/..")
CONF_DIR="$INSTALLER_DIR/conf"
LOG_DIR="$INSTALLER_DIR/logs"

red_white() { printf '\033[37;41m%s\033[0m\n' "$1"; }
cyan() { printf '\033[1;36m%s\033[0m\n' "$1"; }

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

# The binary: a shipped one first, else the one built from this source tree
# (built on first use when cargo is available).
find_binary() {
  for b in "$INSTALLER_DIR/bin/ksinstall" "$INSTALLER_DIR/target/release/ksinstall"; do
    if [ -x "$b" ]; then
      echo "$b"
      return 0
    fi
  done
  if [ -f "$INSTALLER_DIR/Cargo.toml" ] && command -v cargo >/dev/null 2>&1; then
    echo "Building ksinstall (first run only) ..." >&2
    if (cd "$INSTALLER_DIR" && cargo build --release --quiet) >&2; then
      echo "$INSTALLER_DIR/target/release/ksinstall"
      return 0
    fi
  fi
  echo "ksinstall binary not found: put it in $INSTALLER_DIR/bin/ or install Rust (cargo) so it can be built" >&2
  return 1
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

# The newest install log, if any.
newest_log() {
  ls -1t "$LOG_DIR"/Install*.log 2>/dev/null | head -n 1
}

run_install() {
  local mode=$1 bin rc before after
  bin=$(find_binary) || exit 1
  mkdir -p "$LOG_DIR"
  export KSINSTALL_HOME="$INSTALLER_DIR"
  before=$(newest_log)
  # KSINSTALL_ARGS: more options for automation (e.g. --bundle DIR --until PHASE).
  # shellcheck disable=SC2086
  "$bin" install --mode "$mode" --yes --conf "$CONF_DIR" --log-dir "$LOG_DIR" ${KSINSTALL_ARGS:-}
  rc=$?
  [ $rc -eq 0 ] && exit 0
  # Exit 1: a phase failed; ksinstall has already said failed!, named the
  # phase, the host, the log of this run and how to resume. Say nothing more.
  [ $rc -eq 1 ] && exit 1
  # Anything else stopped the run before any host changed (exit 2: the
  # errors above). Name this run's log only if it wrote one.
  after=$(newest_log)
  red_white "failed!"
  if [ -n "$after" ] && [ "$after" != "$before" ]; then
    echo "Nothing was changed on any host. Fix what the lines above name, then run ./install.sh again. Log: $after"
  else
    echo "Nothing was changed on any host. Fix what the lines above name (in $CONF_DIR), then run ./install.sh again."
  fi
  exit $rc
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
