# Shared by install.sh, add-nodes.sh and uninstall.sh (sourced): where the
# installer directory is, the legacy colours, the ksinstall binary, and one
# way to run a verb and say how it ended.
# shellcheck shell=bash

INSTALLER_DIR=$(readlink -f "$BASE_FOLDER/..")
CONF_DIR="$INSTALLER_DIR/conf"
LOG_DIR="$INSTALLER_DIR/logs"

red_white() { printf '\033[37;41m%s\033[0m\n' "$1"; }
cyan() { printf '\033[1;36m%s\033[0m\n' "$1"; }

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

# The newest log of a kind (Install, Scale, Uninstall), if any.
newest_log() {
  ls -1t "$LOG_DIR/$1"*.log 2>/dev/null | head -n 1
}

# run_verb LOGKIND ARGS...: runs ksinstall ARGS with this installer's conf
# and logs, then exits with its status. Exit 1 (a phase failed) was already
# explained by ksinstall; anything else stopped before any host changed.
run_verb() {
  local kind=$1 bin rc before after
  shift
  bin=$(find_binary) || exit 1
  mkdir -p "$LOG_DIR"
  export KSINSTALL_HOME="$INSTALLER_DIR"
  before=$(newest_log "$kind")
  # KSINSTALL_ARGS: more options for automation (e.g. --bundle DIR --until PHASE).
  # shellcheck disable=SC2086
  "$bin" "$@" --conf "$CONF_DIR" --log-dir "$LOG_DIR" ${KSINSTALL_ARGS:-}
  rc=$?
  [ $rc -eq 0 ] && exit 0
  [ $rc -eq 1 ] && exit 1
  after=$(newest_log "$kind")
  red_white "failed!"
  if [ -n "$after" ] && [ "$after" != "$before" ]; then
    echo "Nothing was changed on any host. Fix what the lines above name, then run ./$(basename "$0") again. Log: $after"
  else
    echo "Nothing was changed on any host. Fix what the lines above name (in $CONF_DIR), then run ./$(basename "$0") again."
  fi
  exit $rc
}
