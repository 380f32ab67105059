#!/usr/bin/env bash
# Adds the new workers of conf/hosts.ini to the installed cluster, as the
# legacy scripts/add-nodes.sh did (log: logs/Scale[…].log). Add the hosts
# to [kube-node] and rename none: the cluster, not a local file, says
# which hosts are new, and only those get the install. New masters and etcd
# members too with KSINSTALL_ARGS=--control-plane.
set -u

BASE_FOLDER=$(dirname "$(readlink -f "$0")")
# shellcheck source=scripts/common.sh
. "$BASE_FOLDER/common.sh"

case "${1:-}" in
  -h|--help) sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "add-nodes.sh: unknown argument '$1' (it takes none: the new hosts are read from conf/hosts.ini)" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
  cyan "Please add nodes using the root user !"
  exit 1
fi
run_verb Scale add-nodes --yes
