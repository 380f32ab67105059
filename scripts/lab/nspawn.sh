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
#
# Every v1 controller hierarchy too (cpu, memory, pids...): with the cgroup
# namespace nspawn makes, the host then sees its own subtree as the root of
# each controller, so the kubelet and runc inside manage /kubepods.slice of
# *this* host, as on a real machine, instead of one tree shared by all hosts.
while read -r mp fstype opts; do
    [[ $fstype == cgroup2 || $fstype == cgroup ]] || continue
    cg=$mp/ksinstall-lab/$name
    mkdir -p "$cg"
    if [[ ,$opts, == *,cpuset,* ]]; then
        # a new v1 cpuset is empty: give it its parents' CPUs and memory nodes
        for f in cpuset.cpus cpuset.mems; do
            cat "$mp/$f" > "$mp/ksinstall-lab/$f" 2>/dev/null || true
            cat "$mp/$f" > "$cg/$f"
        done
    fi
    echo $$ > "$cg/cgroup.procs"
done < <(findmnt -rn -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS)
# What a kubelet and containerd need inside a container, as kind gives its
# nodes (none of this is ksinstall's business on a real host): no seccomp
# filter (runc joins session keyrings), writable /proc/sys and /sys, every
# capability, /dev/kmsg, and container/kubelet stores that are not overlayfs
# (overlay on overlay fails), kept in the host's directory.
mkdir -p "$hostdir/var/containerd" "$hostdir/var/kubelet"
export SYSTEMD_SECCOMP=0 SYSTEMD_NSPAWN_API_VFS_WRITABLE=1
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
    --capability=all --bind=/dev/kmsg \
    --bind="$hostdir/var/containerd:/var/lib/containerd" \
    --bind="$hostdir/var/kubelet:/var/lib/kubelet" \
    ${LAB_NSPAWN_EXTRA:-}
