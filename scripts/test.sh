#!/usr/bin/env bash
# Runs the whole test suite. The Ansible oracle tests need ansible-core in
# .venv (created here if missing); lab tests need root and skip without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/ansible-inventory ]; then
  echo "== creating .venv with ansible-core (the inventory oracle)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet 'ansible-core==2.19.14'
fi
export ANSIBLE_INVENTORY_BIN="$PWD/.venv/bin/ansible-inventory"
rc=0
cargo test --all-targets --no-fail-fast "$@" || rc=$?
# Lab tests leave no hosts behind.
if [ "$(id -u)" = 0 ] && [ -e /run/ksinstall-lab.dir ]; then
  scripts/lab.sh down >/dev/null 2>&1 || true
fi
exit $rc
