#!/bin/sh
# A snapshot of etcd member etcd1, run by etcd-backup.timer every
# 30 minutes (etcd_backup_period) and by `ksinstall etcd backup`.
# Keeps the newest 5 (keep_backup_number) in /var/backups/kube_etcd
# (etcd_backup_dir), each in a directory named by its time. Prints the new file.
set -eu
dir=/var/backups/kube_etcd
keep=5
umask 077
mkdir -p "$dir"
stamp=$(date +%Y-%m-%d_%H:%M:%S)
# One snapshot a second at most: names are the time (the legacy form).
while [ -e "$dir/etcd-$stamp" ]; do sleep 1; stamp=$(date +%Y-%m-%d_%H:%M:%S); done
tmp="$dir/.etcd-$stamp.partial"
rm -rf "$tmp"
mkdir "$tmp"
# One member: this one (a snapshot is taken from a single endpoint).
if ! ETCDCTL_API=3 etcdctl --endpoints=https://192.168.0.1:2379 \
    --cacert=/etc/ssl/etcd/ssl/ca.pem \
    --cert=/etc/ssl/etcd/ssl/admin-master.pem \
    --key=/etc/ssl/etcd/ssl/admin-master-key.pem \
    --dial-timeout=5s --command-timeout=120s \
    snapshot save "$tmp/snapshot.db" >/dev/null; then
  rm -rf "$tmp"
  exit 1
fi
mv "$tmp" "$dir/etcd-$stamp"
ls -1d "$dir"/etcd-* | sort | head -n -"$keep" | while read -r old; do rm -rf -- "$old"; done
echo "$dir/etcd-$stamp/snapshot.db"
