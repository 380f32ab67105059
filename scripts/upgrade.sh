#!/usr/bin/env bash
# Upgrades the installed cluster to conf/vars.yml's kube_version, as the
# legacy scripts/upgrade.sh did (log: logs/Upgrade[…].log): the version
# table first, `nonsupport` for what cannot change, then `(yes/no)`. One
# minor at a time; the new version's bundle in the installer's bundle/
# (or KSINSTALL_ARGS="--bundle DIR").
set -u

BASE_FOLDER=$(dirname "$(readlink -f "$0")")
# shellcheck source=scripts/common.sh
. "$BASE_FOLDER/common.sh"

case "${1:-}" in
  -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "upgrade.sh: unknown argument '$1' (it takes none: the version is conf/vars.yml's kube_version)" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  cyan "Please upgrade KubeSphere using the root user !"
  exit 1
fi
run_verb Upgrade upgrade
