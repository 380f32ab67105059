#!/usr/bin/env bash
# Takes the cluster off every host of conf/hosts.ini, as the legacy
# scripts/uninstall.sh did (log: logs/Uninstall[…].log), after the same
# question: Type 'yes' to reset your cluster. Packages, images and the etcd
# data (moved aside) are kept; the hosts can install again.
set -u

BASE_FOLDER=$(dirname "$(readlink -f "$0")")
# shellcheck source=scripts/common.sh
. "$BASE_FOLDER/common.sh"

case "${1:-}" in
  -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "uninstall.sh: unknown argument '$1' (it takes none)" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  cyan "Please uninstall KubeSphere using the root user !"
  exit 1
fi
run_verb Uninstall reset
