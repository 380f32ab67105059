#!/bin/bash
# Host-side first stage of a lab host (tiny mode).
#
# Started by lab.sh as:
#   nsenter --net=/run/netns/nodeK -- unshare --mount --uts --ipc --pid --fork \
#       --kill-child --propagation private -- stage1.sh nodeK HOSTDIR
# so it runs as PID 1 of a fresh PID namespace, in a private mount namespace,
# its own UTS/IPC namespaces and the host's network namespace. It mounts the
# host's filesystem view (all mounts listed in HOSTDIR/fstab: the overlay,
# /proc, /sys, /dev, /dev/pts, /dev/shm, /run, /tmp), pivots into it and execs
# the guest's tiny init (/usr/local/sbin/lab-init, a dash script that runs
# sshd -D and reaps children). Only bash builtins plus mount and pivot_root
# are used, to keep start-up cheap at 100+ hosts.
set -eu
name=$1 hostdir=$2
echo "$name" > /proc/sys/kernel/hostname          # UTS namespace: our own
mount --all --fstab "$hostdir/fstab"
cd "$hostdir/merged"
pivot_root . .oldroot
exec /bin/sh /usr/local/sbin/lab-init "$name"
