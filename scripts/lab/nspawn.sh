#!/bin/bash
# Host-side launcher of a lab host in --systemd mode.
#
# Started by lab.sh as:
#   unshare --mount --propagation private -- nspawn.sh nodeK HOSTDIR
# so the overlay mount lives only in this private mount namespace (it vanishes
# with the host and never shows up in the root namespace's mount table). It
# then execs systemd-nspawn, which boots the rootfs' systemd as PID 1 of the
# host's own PID namespace, inside the lab-made network namespace nodeK.
set -eu
name=$1 hostdir=$2
mount --all --fstab "$hostdir/fstab.overlay"
# This machine's PID 1 is not systemd, so nspawn runs with --keep-unit: it
# puts the container below *its own* cgroup. Give every host a cgroup of its
# own first (in the cgroup2 and the v1 name=systemd hierarchies), or all
# containers would share one tree and their systemds would fight over it.
# lab.sh removes these directories when the host is gone.
while read -r mp fstype opts; do
    [[ $fstype == cgroup2 || ( $fstype == cgroup && ,$opts, == *,name=systemd,* ) ]] || continue
    cg=$mp/ksinstall-lab/$name
    mkdir -p "$cg"
    echo $$ > "$cg/cgroup.procs"
done < <(findmnt -rn -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS)
# The machine has no systemd/machined as PID 1: do not register, do not ask
# for a scope unit. Host keys, machine-id, hostname, resolv.conf and
# timezone come from the overlay; no console (journald inside keeps logs).
exec systemd-nspawn \
    --quiet --boot \
    --directory="$hostdir/merged" \
    --machine="$name" --hostname="$name" \
    --network-namespace-path="/run/netns/$name" \
    --register=no --keep-unit \
    --console=passive \
    --link-journal=no --resolv-conf=off --timezone=off \
    ${LAB_NSPAWN_EXTRA:-}
