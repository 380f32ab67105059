#!/usr/bin/env bash
# The lab: N real SSH hosts on this one machine, built from Linux namespaces.
#
#   scripts/lab.sh up N [--systemd] [--force]   start hosts node1..nodeN
#   scripts/lab.sh down                        stop everything, leave nothing behind
#   scripts/lab.sh status                      hosts, IPs, PIDs, link, sshd up/down
#   scripts/lab.sh kill HOST                   stop a host (sshd gone -> connection refused)
#   scripts/lab.sh cut HOST                    take its bridge port down (-> timeouts)
#   scripts/lab.sh revive HOST                 undo kill and/or cut
#   scripts/lab.sh exec HOST -- CMD...         run CMD inside HOST (all its namespaces)
#   scripts/lab.sh shell [HOST]                shell in the lab netns (taskbox side), or in HOST
#   scripts/lab.sh inventory [--reveal]        rewrite + show inventories (passwords masked)
#   scripts/lab.sh rootfs                      only build (or check) the cached rootfs
#   scripts/lab.sh deps                        apt-get install the host packages it needs
#
# Every host nodeK has its own network namespace (10.77.0.(10+K)/16 on a veth
# whose other end is a port of bridge br0 in the private "lab" netns, which
# holds 10.77.0.1/16 and has no route anywhere else), UTS, IPC, mount and PID
# namespaces, an overlayfs root (shared read-only debootstrapped Debian rootfs
# + shared per-lab layer + per-host upper dir) and Debian's real sshd on :22.
# See docs/LAB.md.
set -euo pipefail
umask 022

LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}
LAB_NETNS=lab
LAB_BRIDGE=br0
LAB_GATEWAY_IP=10.77.0.1
LAB_GATEWAY_MAC=02:77:00:00:00:01
LAB_PREFIXLEN=16
LAB_MAX_HOSTS=1000
LAB_SUITE=${LAB_SUITE:-$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-bookworm}")}
# Bump when the rootfs customisation below changes: it is part of the cache key.
LAB_ROOTFS_RECIPE=4
# Packages added to debootstrap's minbase. Changing the list rebuilds the cache.
LAB_PACKAGES=${LAB_PACKAGES:-"openssh-server sudo iproute2 procps coreutils util-linux mount passwd bash kmod systemd systemd-sysv dbus iputils-ping curl openssl socat conntrack ebtables ipset iptables ipvsadm ca-certificates less"}
LAB_READY_TIMEOUT=${LAB_READY_TIMEOUT:-}   # seconds; default depends on N and mode

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HELPERS=$(dirname "$SELF")/lab
STATE=$LAB_DIR/state
GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

die()  { echo "lab: $*" >&2; exit 1; }
note() { echo "lab: $*" >&2; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $(( t / 1000 )); }
# "used" as free(1) computes it (page cache excluded), in KiB
mem_used_kb() {
    awk '/^MemTotal:/ {t=$2} /^MemFree:/ {f=$2} /^Buffers:/ {b=$2} /^Cached:/ {c=$2} /^SReclaimable:/ {s=$2}
         END {print t - f - b - c - s}' /proc/meminfo
}

need_root() {
    if [[ $EUID -ne 0 ]]; then
        echo "lab.sh: must run as root (it creates network namespaces, veths, overlay mounts and PID namespaces)." >&2
        exit 1
    fi
}

# host commands the lab needs, and the Debian package of each
HOST_DEPS="debootstrap:debootstrap ip:iproute2 nsenter:util-linux unshare:util-linux setsid:util-linux
flock:util-linux pivot_root:util-linux mount:mount findmnt:mount ssh-keygen:openssh-client
ssh:openssh-client openssl:openssl ps:procps timeout:coreutils awk:mawk systemd-nspawn:systemd-container"
missing_deps() {  # prints the packages to install
    local e pkgs=()
    for e in $HOST_DEPS; do
        command -v "${e%%:*}" >/dev/null 2>&1 || pkgs+=("${e#*:}")
    done
    (( ${#pkgs[@]} )) && printf '%s\n' "${pkgs[@]}" | sort -u | tr '\n' ' '
    return 0
}
check_deps() {
    local m; m=$(missing_deps)
    [[ -z $m ]] || die "missing host packages: $m- run '$0 deps' (apt-get install them)"
}
cmd_deps() {
    local m; m=$(missing_deps)
    if [[ -z $m ]]; then echo "lab: host dependencies present"; return 0; fi
    note "installing: $m"
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $m; then
        apt-get update -q
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $m
    fi
}

check_lab_dir() {
    [[ $LAB_DIR == /* ]] || die "LAB_DIR must be an absolute path (got '$LAB_DIR')"
    [[ $LAB_DIR != *[[:space:],:\\]* ]] || die "LAB_DIR must not contain spaces, commas, colons or backslashes (overlay options)"
}

host_ip() {  # K -> 10.77.X.Y with X.Y = 10+K (10.77.0.(10+K) for K <= 245)
    local n=$(( 10 + $1 ))
    echo "10.77.$(( n / 256 )).$(( n % 256 ))"
}
host_mac() { local n=$(( 10 + $1 )); printf '02:77:00:00:%02x:%02x' $(( n / 256 )) $(( n % 256 )); }
host_num() {  # nodeK -> K (validated against the running lab)
    local h=$1
    [[ $h =~ ^node([1-9][0-9]*)$ ]] || die "unknown host '$h' (expected node1..node${LAB_N:-N})"
    local k=${BASH_REMATCH[1]}
    (( k >= 1 && k <= ${LAB_N:-0} )) || die "unknown host '$h' (lab has node1..node${LAB_N:-0})"
    echo "$k"
}
hostdir() { echo "$LAB_DIR/hosts/node$1"; }

# ---------------------------------------------------------------- locking/state
take_lock() {
    mkdir -p "$LAB_DIR"
    exec 9>"$LAB_DIR/.lock"
    flock -w 120 9 || die "another lab.sh holds $LAB_DIR/.lock (waited 120 s)"
}

load_state() {
    LAB_N=0 LAB_MODE=
    if [[ -f $STATE ]]; then
        # shellcheck disable=SC1090
        . "$STATE"
    fi
}

pid_alive() { [[ -n ${1:-} && -d /proc/$1 ]]; }

# launcher pid is ours if its command line names this host's dir
launcher_ok() {
    local pid=$1 k=$2 hd c
    pid_alive "$pid" || return 1
    hd=$(hostdir "$k")
    c=$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline") || return 1
    [[ $c == *"$hd "* || $c == *"$hd/"* ]]
}

# PID $1 is host K's PID 1: innermost PID 1, and in netns nodeK (guards
# against a recorded PID that was reused after the host died)
init_ok() {
    local pid=$1 k=$2
    pid_alive "$pid" || return 1
    [[ $(awk '/^NSpid:/ {print (NF > 2 ? $NF : "")}' "/proc/$pid/status" 2>/dev/null) == 1 ]] || return 1
    [[ $(stat -L -c %i "/proc/$pid/ns/net" 2>/dev/null) == "$(stat -L -c %i "/run/netns/node$k" 2>/dev/null)" ]]
}

read_pid() { local f=$1; [[ -s $f ]] && cat "$f" || true; }

# one lab per machine: the netns names (lab, nodeK) are global. This file
# names the LAB_DIR of the lab that owns them.
OWNER_FILE=/run/ksinstall-lab.dir
foreign_lab() {  # prints the LAB_DIR of a live lab that is not ours
    [[ -e /run/netns/$LAB_NETNS && -s $OWNER_FILE ]] || return 1
    local o; o=$(cat "$OWNER_FILE")
    [[ $o != "$LAB_DIR" && -f $o/state ]] || return 1
    echo "$o"
}

lab_is_up() {
    load_state
    (( LAB_N > 0 )) || return 1
    [[ -e /run/netns/$LAB_NETNS ]] || return 1
    return 0
}

# ---------------------------------------------------------------- rootfs cache
rootfs_key() {
    local pkgs
    pkgs=$(tr ' ' '\n' <<<"$LAB_PACKAGES" | sed '/^$/d' | sort -u | tr '\n' ' ')
    printf 'recipe=%s suite=%s variant=minbase arch=%s packages=%s\n' \
        "$LAB_ROOTFS_RECIPE" "$LAB_SUITE" "$(dpkg --print-architecture)" "$pkgs" |
        sha256sum | cut -c1-16
}

ensure_rootfs() {
    local key; key=$(rootfs_key)
    LAB_ROOTFS=$LAB_DIR/cache/rootfs-$key
    if [[ -f $LAB_ROOTFS.ok && -x $LAB_ROOTFS/usr/sbin/sshd ]]; then
        return 0
    fi
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    local mirror; mirror=$("$HELPERS/mirror.sh")
    local tmp=$LAB_ROOTFS.tmp log=$LAB_DIR/cache/debootstrap-$key.log
    mkdir -p "$LAB_DIR/cache"
    rm -rf "$tmp"
    note "building rootfs $key ($LAB_SUITE minbase + $(wc -w <<<"$LAB_PACKAGES") packages) from the apt mirror; log: $log"
    local t0; t0=$(now_ms)
    if ! timeout 1800 debootstrap --variant=minbase \
            --include="$(tr -s ' ' ',' <<<"$LAB_PACKAGES" | sed 's/^,//; s/,$//')" \
            "$LAB_SUITE" "$tmp" "$mirror" >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "debootstrap failed (see $log)"
    fi
    customize_rootfs "$tmp"
    mv "$tmp" "$LAB_ROOTFS"
    printf '%s\n' $LAB_PACKAGES > "$LAB_ROOTFS.ok"
    note "rootfs ready in $(( ($(now_ms) - t0) / 1000 )) s: $LAB_ROOTFS ($(du -sh "$LAB_ROOTFS" | cut -f1))"
    # drop caches of other keys that no running lab uses
    local d
    for d in "$LAB_DIR"/cache/rootfs-*; do
        [[ $d == "$LAB_ROOTFS" || $d == "$LAB_ROOTFS".* || $d == "$tmp" ]] && continue
        [[ -d $d ]] && ! grep -qF "$d" <<<"$(findmnt -rn -o OPTIONS)" && rm -rf "$d" "$d.ok" "$LAB_DIR/cache/debootstrap-${d##*/rootfs-}.log"
    done
    return 0
}

customize_rootfs() {
    local r=$1
    # the login user: sudo with password (Debian's %sudo rule, no NOPASSWD)
    chroot "$r" useradd --create-home --shell /bin/bash --groups sudo ubuntu
    # per-host host keys are generated at `up`; machine-id per host too
    rm -f "$r"/etc/ssh/ssh_host_* "$r/etc/machine-id" "$r/var/lib/dbus/machine-id"
    : > "$r/etc/machine-id"
    cat > "$r/etc/ssh/sshd_config.d/10-lab.conf" <<'EOF'
# ksinstall lab test host: real sshd, root and password logins allowed.
PermitRootLogin yes
PasswordAuthentication yes
PubkeyAuthentication yes
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
UseDNS no
MaxStartups 200:30:400
MaxSessions 64
EOF
    # nothing in a lab host can reach a mirror; keep apt quiet and offline
    : > "$r/etc/apt/sources.list"
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
    mkdir -p "$r/.oldroot"
    chmod 0755 "$r/.oldroot"
}

# ---------------------------------------------------------------- per-lab files
new_password() {
    local p=
    while (( ${#p} < 20 )); do
        p+=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${p:0:20}"
}

ensure_key() {
    if [[ ! -s $LAB_DIR/id_ed25519 ]]; then
        rm -f "$LAB_DIR/id_ed25519" "$LAB_DIR/id_ed25519.pub"
        ssh-keygen -q -t ed25519 -N '' -C "ksinstall-lab" -f "$LAB_DIR/id_ed25519"
    fi
    chmod 0600 "$LAB_DIR/id_ed25519"
}

make_secrets() {
    install -d -m 0700 "$LAB_DIR/secrets"
    local u
    for u in root ubuntu; do
        ( umask 077; new_password > "$LAB_DIR/secrets/$u.password" )
        # hash via stdin: the password never appears on a command line
        ( umask 077; openssl passwd -6 -stdin < "$LAB_DIR/secrets/$u.password" > "$LAB_DIR/secrets/$u.hash" )
    done
    # askpass helper for OpenSSH clients (SSH_ASKPASS + SSH_ASKPASS_REQUIRE=force):
    # prints the password of the file named by LAB_PASSWORD_FILE (default root's).
    cat > "$LAB_DIR/askpass" <<EOF
#!/bin/sh
exec cat "\${LAB_PASSWORD_FILE:-$LAB_DIR/secrets/root.password}"
EOF
    chmod 0700 "$LAB_DIR/askpass"
}

# The shared per-lab layer (overlay lowerdir above the rootfs): accounts,
# authorized keys, /etc/hosts, the tiny init. Same for every host.
make_common() {
    local c=$LAB_DIR/common r=$LAB_ROOTFS
    rm -rf "$c"
    install -d -m 0755 "$c" "$c/etc" "$c/home" "$c/usr" "$c/usr/local" "$c/usr/local/sbin"
    # shadow with this lab's password hashes (hashes passed through the environment)
    ROOT_HASH=$(cat "$LAB_DIR/secrets/root.hash") UBUNTU_HASH=$(cat "$LAB_DIR/secrets/ubuntu.hash") \
        awk -F: -v OFS=: '
            $1 == "root"   { $2 = ENVIRON["ROOT_HASH"] }
            $1 == "ubuntu" { $2 = ENVIRON["UBUNTU_HASH"] }
            { print }' "$r/etc/shadow" > "$c/etc/shadow"
    chown --reference="$r/etc/shadow" "$c/etc/shadow"
    chmod --reference="$r/etc/shadow" "$c/etc/shadow"
    {
        printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
        printf '%s\tlab-gateway\n' "$LAB_GATEWAY_IP"
        local k
        for (( k = 1; k <= LAB_N; k++ )); do printf '%s\tnode%d\n' "$(host_ip "$k")" "$k"; done
    } > "$c/etc/hosts"
    # A nameserver that answers nothing (no DNS server runs in the lab; a
    # query fails at once with "port unreachable"), as air-gapped hosts have
    # their internal one: CoreDNS refuses to start with no nameserver at all.
    printf '# ksinstall lab: no DNS server answers here\nnameserver %s\n' "$LAB_GATEWAY_IP" > "$c/etc/resolv.conf"
    chmod 0644 "$c/etc/hosts" "$c/etc/resolv.conf"
    # authorized keys for root and ubuntu
    local uid gid
    uid=$(awk -F: '$1 == "ubuntu" {print $3}' "$r/etc/passwd")
    gid=$(awk -F: '$1 == "ubuntu" {print $4}' "$r/etc/passwd")
    install -d -m 0700 "$c/root" "$c/root/.ssh"
    install -m 0600 "$LAB_DIR/id_ed25519.pub" "$c/root/.ssh/authorized_keys"
    install -d -m 0755 -o "$uid" -g "$gid" "$c/home/ubuntu"
    install -d -m 0700 -o "$uid" -g "$gid" "$c/home/ubuntu/.ssh"
    install -m 0600 -o "$uid" -g "$gid" "$LAB_DIR/id_ed25519.pub" "$c/home/ubuntu/.ssh/authorized_keys"
    # tiny init: PID 1 of the host's PID namespace in the default mode
    cat > "$c/usr/local/sbin/lab-init" <<'EOF'
#!/bin/sh
# PID 1 of a ksinstall lab host (tiny mode): drop the old root, run Debian's
# sshd in the foreground, reap every child (orphans are reparented to us and
# dash's wait reaps any child), and exit when sshd exits (the PID namespace,
# and so the host, goes with us).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
umount -l /.oldroot
mkdir -p -m 0755 /run/sshd
trap 'kill -TERM "$sshd" 2>/dev/null; exit 0' TERM INT HUP
/usr/sbin/sshd -D -e &
sshd=$!
while kill -0 "$sshd" 2>/dev/null; do
    wait "$sshd"
done
echo "lab-init: sshd exited" >&2
exit 1
EOF
    chmod 0755 "$c/usr/local/sbin/lab-init"

    # --systemd: units that are useless in a lab host and only cost boot time/memory
    install -d -m 0755 "$c/etc/systemd" "$c/etc/systemd/system"
    local unit
    for unit in console-getty.service container-getty@.service getty@tty1.service \
                apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
                e2scrub_reap.service fstrim.timer systemd-timesyncd.service \
                systemd-networkd-wait-online.service ipvsadm.service dev-hugepages.mount \
                sys-fs-fuse-connections.mount; do
        ln -s /dev/null "$c/etc/systemd/system/$unit"
    done

    # minimal /dev shared (read-only bind) by tiny-mode hosts
    local d=$LAB_DIR/devtmpl
    rm -rf "$d"
    install -d -m 0755 "$d" "$d/pts"
    install -d -m 1777 "$d/shm"
    mknod -m 0666 "$d/null" c 1 3
    mknod -m 0666 "$d/zero" c 1 5
    mknod -m 0666 "$d/full" c 1 7
    mknod -m 0666 "$d/random" c 1 8
    mknod -m 0666 "$d/urandom" c 1 9
    mknod -m 0666 "$d/tty" c 5 0
    ln -s pts/ptmx "$d/ptmx"
    ln -s /proc/self/fd "$d/fd"
    ln -s /proc/self/fd/0 "$d/stdin"
    ln -s /proc/self/fd/1 "$d/stdout"
    ln -s /proc/self/fd/2 "$d/stderr"
    ln -s /proc/kcore "$d/core"
}

# per-host upper dir: hostname, machine-id, host keys; fstab(s) for the launcher
prep_host() {
    # few execs per host (mkdir, 2x ssh-keygen): this runs 100+ times
    local k=$1 h; h=$(hostdir "$1")
    local u=$h/upper m=$h/merged
    mkdir -p "$u/etc/ssh" "$h/work" "$m"
    echo "node$k" > "$u/etc/hostname"
    printf '%08x%08x%08x%08x\n' "$SRANDOM" "$SRANDOM" "$SRANDOM" "$SRANDOM" > "$u/etc/machine-id"
    ssh-keygen -q -t ed25519 -N '' -C "root@node$k" -f "$u/etc/ssh/ssh_host_ed25519_key"
    ssh-keygen -q -t ecdsa -b 256 -N '' -C "root@node$k" -f "$u/etc/ssh/ssh_host_ecdsa_key"
    local ovl="overlay $m overlay lowerdir=$LAB_DIR/common:$LAB_ROOTFS,upperdir=$u,workdir=$h/work 0 0"
    printf '%s\n' "$ovl" > "$h/fstab.overlay"
    printf '%s\n' "$ovl" \
        "proc $m/proc proc nosuid,nodev,noexec 0 0" \
        "sysfs $m/sys sysfs ro,nosuid,nodev,noexec 0 0" \
        "$LAB_DIR/devtmpl $m/dev none bind,ro 0 0" \
        "devpts $m/dev/pts devpts newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec 0 0" \
        "tmpfs $m/dev/shm tmpfs mode=1777,nosuid,nodev 0 0" \
        "tmpfs $m/run tmpfs mode=0755,nosuid,nodev,size=64m 0 0" \
        "tmpfs $m/tmp tmpfs mode=1777,nosuid,nodev 0 0" > "$h/fstab"
    : > "$h/console.log"
}

# ---------------------------------------------------------------- network
# Guard: outside the lab netns, 10.77.0.0/16 would follow the root netns'
# default route, i.e. leave the machine. An "unreachable" route (it sends
# nothing, connect() fails at once with EHOSTUNREACH) keeps a stray connect
# from the wrong namespace on this machine. Removed again by `down`.
guard_route_add() {
    if grep -v '^unreachable 10\.77\.0\.0/16' <<<"$(ip -4 route show table main)" | grep -q '^10\.77\.'; then
        note "warning: the root netns already routes part of 10.77.0.0/16; not adding the guard route"
        return 0
    fi
    ip -4 route replace unreachable 10.77.0.0/16
}
guard_route_del() {
    if [[ $(ip -4 route show 10.77.0.0/16) == unreachable* ]]; then
        ip -4 route del unreachable 10.77.0.0/16 2>/dev/null || true
    fi
}

net_up() {
    guard_route_add
    ip netns add "$LAB_NETNS"
    ip -n "$LAB_NETNS" -b - <<EOF
link set lo up
link add $LAB_BRIDGE address $LAB_GATEWAY_MAC type bridge stp_state 0 forward_delay 0
addr add $LAB_GATEWAY_IP/$LAB_PREFIXLEN dev $LAB_BRIDGE
link set $LAB_BRIDGE up
EOF
    local k batch='' nsbatch=''
    for (( k = 1; k <= LAB_N; k++ )); do
        nsbatch+="netns add node$k"$'\n'
    done
    ip -b - <<<"$nsbatch"
    for (( k = 1; k <= LAB_N; k++ )); do
        batch+="link add vnode$k type veth peer name eth0 address $(host_mac "$k") netns node$k
link set vnode$k master $LAB_BRIDGE up
neigh replace $(host_ip "$k") lladdr $(host_mac "$k") dev $LAB_BRIDGE nud permanent
"
    done
    ip -n "$LAB_NETNS" -b - <<<"$batch"
    # node side: address + a default route via the lab netns (kubeadm & co.
    # want one; the lab netns forwards nothing and has no route out), and
    # permanent neighbour entries for the gateway and every other host (MACs
    # are deterministic): no ARP at all, and a cut host then times out for
    # everybody instead of turning into "No route to host" after ARP fails.
    local mesh='' j running=0
    mesh="neigh replace $LAB_GATEWAY_IP lladdr $LAB_GATEWAY_MAC dev eth0 nud permanent"$'\n'
    if (( LAB_N <= 500 )); then
        for (( j = 1; j <= LAB_N; j++ )); do
            mesh+="neigh replace $(host_ip "$j") lladdr $(host_mac "$j") dev eth0 nud permanent"$'\n'
        done
    fi
    for (( k = 1; k <= LAB_N; k++ )); do
        ip -n "node$k" -b - <<EOF &
link set lo up
addr add $(host_ip "$k")/$LAB_PREFIXLEN dev eth0
link set eth0 up
route add default via $LAB_GATEWAY_IP dev eth0
$mesh
EOF
        if (( ++running >= 8 )); then wait -n; (( running-- )); fi
    done
    wait
}

net_down() {
    local k ns
    # every nodeK netns we made, whether or not state knows about it
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ $ns =~ ^node[0-9]+$ || $ns == "$LAB_NETNS" ]] || continue
        ip netns del "$ns" 2>/dev/null || true
    done
    guard_route_del
}

# ---------------------------------------------------------------- hosts
launch_host() {
    local k=$1 h; h=$(hostdir "$1")
    rm -f "$h/init.pid" "$h/launcher.pid"
    if [[ $LAB_MODE == systemd ]]; then
        setsid unshare --mount --propagation private -- \
            "$HELPERS/nspawn.sh" "node$k" "$h" </dev/null >>"$h/console.log" 2>&1 9>&- &
    else
        setsid nsenter --net="/run/netns/node$k" -- \
            unshare --mount --uts --ipc --pid --fork --kill-child --propagation private -- \
            "$HELPERS/stage1.sh" "node$k" "$h" </dev/null >>"$h/console.log" 2>&1 9>&- &
    fi
    echo $! > "$h/launcher.pid"
}

# the host's PID 1 as seen from here: a descendant of the launcher whose
# innermost PID is 1
find_init() {
    local launcher=$1 pid queue next c ns
    queue=$launcher
    for _ in 1 2 3 4; do
        next=
        for pid in $queue; do
            for c in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
                ns=$(awk '/^NSpid:/ {print (NF > 2 ? $NF : "")}' "/proc/$c/status" 2>/dev/null || true)
                if [[ $ns == 1 ]]; then echo "$c"; return 0; fi
                next+=" $c"
            done
        done
        queue=$next
        [[ -n $queue ]] || break
    done
    return 1
}

record_inits() {  # DEADLINE_MS K...: wait (bounded) until every host has a PID 1; record it
    local deadline=$1; shift
    local k h l p pp
    local -A want
    while :; do
        want=()
        for k in "$@"; do
            h=$(hostdir "$k")
            [[ -s $h/init.pid ]] && continue
            l=$(read_pid "$h/launcher.pid")
            [[ -n $l ]] && want[$l]=$k
        done
        (( ${#want[@]} == 0 )) && return 0
        # one ps snapshot: children of those launchers; keep those whose innermost PID is 1
        local files=()
        while read -r p pp; do
            [[ -n ${want[$pp]:-} ]] && files+=("/proc/$p/status")
        done < <(ps -e -o pid=,ppid=)
        if (( ${#files[@]} )); then
            while read -r p pp; do
                [[ -n ${want[$pp]:-} ]] && echo "$p" > "$(hostdir "${want[$pp]}")/init.pid"
            done < <({ cat "${files[@]}" 2>/dev/null || true; } |
                     awk '/^Pid:/ {pid = $2} /^PPid:/ {ppid = $2} /^NSpid:/ {if (NF > 2 && $NF == 1) print pid, ppid}')
        fi
        (( $(now_ms) < deadline )) || return 1
        sleep 0.05
    done
}

# wait until sshd on each given host answers with an SSH banner, from the lab netns
wait_ssh() {
    local timeout_s=$1; shift
    local ips=() k
    for k in "$@"; do ips+=("$(host_ip "$k")"); done
    ip netns exec "$LAB_NETNS" timeout "$timeout_s" bash -c '
        for ip in "$@"; do
            while :; do
                if { exec 3<>"/dev/tcp/$ip/22"; } 2>/dev/null; then
                    line=; read -r -t 2 line <&3 || true; exec 3<&- 3>&-
                    [[ $line == SSH-* ]] && break
                fi
                sleep 0.05
            done
        done' lab-wait "${ips[@]}"
}

# --systemd: wait until each host's systemd finished booting (running/degraded)
wait_booted() {
    local tmo=$1; shift
    # (never a bare `wait`: the launched hosts are our children too)
    local k i out=$LAB_DIR/.boot-state batch=()
    : > "$out"
    for k in "$@"; do
        i=$(read_pid "$(hostdir "$k")/init.pid")
        [[ -n $i ]] || continue
        { echo "node$k $(nsenter --target "$i" --mount --uts --ipc --net --pid --root --wd -- \
               env -i PATH="$GUEST_PATH" timeout "$tmo" systemctl is-system-running --wait 2>/dev/null || true)" >> "$out"; } &
        batch+=($!)
        if (( ${#batch[@]} >= 8 )); then wait "${batch[@]}" || true; batch=(); fi
    done
    (( ${#batch[@]} == 0 )) || wait "${batch[@]}" || true
    local bad; bad=$(awk '$2 != "running" {printf "%s(%s) ", $1, $2}' "$out")
    rm -f "$out"
    [[ -z $bad ]] || note "warning: systemd not fully up on: $bad(ssh works; see 'lab.sh exec HOST -- systemctl --failed')"
    for k in "$@"; do kubelet_mounts "$k"; done
}

# nspawn mounts the cgroup hierarchies read-only and / private; a kubelet
# needs them writable (they are this host's own subtrees: see nspawn.sh) and
# / shared (mount propagation for volumes), as kind's nodes have them.
kubelet_mounts() {
    local i; i=$(read_pid "$(hostdir "$1")/init.pid")
    [[ -n $i ]] || return 0
    nsenter --target "$i" --mount -- sh -c '
        for d in /sys/fs/cgroup/*/; do
            mount -o remount,rw "$d" 2>/dev/null || mount -o remount,bind,rw "$d" 2>/dev/null || true
        done
        mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
        mount --make-rshared /' || note "warning: node$1: could not make cgroups writable"
}

kill_host() {  # SIGKILL the host's PID 1 (the whole PID namespace dies), then the launcher
    local k=$1 h; h=$(hostdir "$1")
    local l i
    l=$(read_pid "$h/launcher.pid"); i=$(read_pid "$h/init.pid")
    if [[ -z $i ]] && launcher_ok "$l" "$k"; then i=$(find_init "$l" || true); fi
    if init_ok "$i" "$k"; then kill -KILL "$i" 2>/dev/null || true; fi
    if launcher_ok "$l" "$k"; then
        local t; for t in $(seq 1 100); do launcher_ok "$l" "$k" || break; sleep 0.05; done
        launcher_ok "$l" "$k" && kill -KILL "$l" 2>/dev/null || true
    fi
    # anything still inside the host's network namespace is ours too
    local p
    for p in $(ip netns pids "node$k" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    cgroup_cleanup "$k"
    rm -f "$h/init.pid"
}

# cgroup directories the --systemd launcher made for host K (or all hosts): kill
# whatever is still in them (by PID), then remove them depth-first
cgroup_roots() {
    findmnt -rn -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS 2>/dev/null |
        awk '$2 == "cgroup2" || $2 == "cgroup" {print $1}'
}
cgroup_cleanup() {  # [K]
    local mp base p t
    for mp in $(cgroup_roots); do
        base=$mp/ksinstall-lab${1:+/node$1}
        [[ -d $base ]] || continue
        for t in 1 2 3 4 5 6 7 8 9 10; do
            for p in $(find "$base" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                kill -KILL "$p" 2>/dev/null || true
            done
            find "$base" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [[ -d $base ]] || break
            sleep 0.2
        done
        [[ -d $base ]] && note "warning: could not remove cgroup $base"
    done
    return 0
}

host_running() {
    local k=$1 h; h=$(hostdir "$1")
    launcher_ok "$(read_pid "$h/launcher.pid")" "$k"
}

# ---------------------------------------------------------------- outputs
write_outputs() {
    local k ip f
    local rootpw ubpw
    rootpw=$(cat "$LAB_DIR/secrets/root.password")
    ubpw=$(cat "$LAB_DIR/secrets/ubuntu.password")
    groups_block() {
        echo
        echo "[kube-master]"; echo "node1"
        echo
        echo "[etcd]"; echo "node1"
        echo
        echo "[kube-node]"
        for (( k = 1; k <= LAB_N; k++ )); do echo "node$k"; done
        echo
        echo "[k8s-cluster:children]"; echo "kube-node"; echo "kube-master"
    }
    ( umask 077
      {
        echo "# ksinstall lab ($LAB_N hosts, $LAB_MODE mode) - root with password. Generated by scripts/lab.sh."
        echo "[all]"
        for (( k = 1; k <= LAB_N; k++ )); do
            ip=$(host_ip "$k")
            echo "node$k ansible_host=$ip ip=$ip ansible_user=root ansible_ssh_pass=$rootpw"
        done
        groups_block
      } > "$LAB_DIR/hosts-root.ini"
      {
        echo "# ksinstall lab ($LAB_N hosts, $LAB_MODE mode) - ubuntu with password, sudo needs it. Generated by scripts/lab.sh."
        echo "[all]"
        for (( k = 1; k <= LAB_N; k++ )); do
            ip=$(host_ip "$k")
            echo "node$k ansible_host=$ip ip=$ip ansible_user=ubuntu ansible_ssh_pass=$ubpw ansible_become_pass=$ubpw"
        done
        groups_block
      } > "$LAB_DIR/hosts-ubuntu.ini"
      {
        echo "# ksinstall lab ($LAB_N hosts, $LAB_MODE mode) - root with the lab's ed25519 key. Generated by scripts/lab.sh."
        echo "[all]"
        for (( k = 1; k <= LAB_N; k++ )); do
            ip=$(host_ip "$k")
            echo "node$k ansible_host=$ip ip=$ip ansible_user=root ansible_ssh_private_key_file=$LAB_DIR/id_ed25519"
        done
        groups_block
      } > "$LAB_DIR/hosts-key.ini"
    )
    {
        for (( k = 1; k <= LAB_N; k++ )); do
            ip=$(host_ip "$k")
            for f in ed25519 ecdsa; do
                local ktype kdata
                read -r ktype kdata _ < "$(hostdir "$k")/upper/etc/ssh/ssh_host_${f}_key.pub"
                printf 'node%d,%s %s %s\n' "$k" "$ip" "$ktype" "$kdata"
            done
        done
    } > "$LAB_DIR/known_hosts"
    local hosts='' ips=''
    for (( k = 1; k <= LAB_N; k++ )); do hosts+="node$k "; ips+="$(host_ip "$k") "; done
    cat > "$LAB_DIR/lab.env" <<EOF
# ksinstall lab - source me. No secrets in here: passwords are in the *_PASSWORD_FILE files.
LAB_DIR=$LAB_DIR
LAB_NETNS=$LAB_NETNS
LAB_MODE=$LAB_MODE
LAB_N=$LAB_N
LAB_HOSTS="${hosts% }"
LAB_IPS="${ips% }"
LAB_GATEWAY_IP=$LAB_GATEWAY_IP
LAB_SSH_KEY=$LAB_DIR/id_ed25519
LAB_KNOWN_HOSTS=$LAB_DIR/known_hosts
LAB_ASKPASS=$LAB_DIR/askpass
LAB_ROOT_PASSWORD_FILE=$LAB_DIR/secrets/root.password
LAB_UBUNTU_PASSWORD_FILE=$LAB_DIR/secrets/ubuntu.password
LAB_INVENTORY_ROOT=$LAB_DIR/hosts-root.ini
LAB_INVENTORY_UBUNTU=$LAB_DIR/hosts-ubuntu.ini
LAB_INVENTORY_KEY=$LAB_DIR/hosts-key.ini
export LAB_DIR LAB_NETNS LAB_MODE LAB_N LAB_HOSTS LAB_IPS LAB_GATEWAY_IP LAB_SSH_KEY LAB_KNOWN_HOSTS LAB_ASKPASS
export LAB_ROOT_PASSWORD_FILE LAB_UBUNTU_PASSWORD_FILE LAB_INVENTORY_ROOT LAB_INVENTORY_UBUNTU LAB_INVENTORY_KEY
EOF
    chmod 0644 "$LAB_DIR/lab.env" "$LAB_DIR/known_hosts"
}

# ---------------------------------------------------------------- commands
cmd_up() {
    local n='' force=0 mode=tiny a
    for a in "$@"; do
        case $a in
            --systemd) mode=systemd ;;
            --force) force=1 ;;
            [0-9]*) [[ $a =~ ^[0-9]+$ ]] || die "bad host count '$a'"; n=$a ;;
            *) die "up: unknown argument '$a' (usage: up N [--systemd] [--force])" ;;
        esac
    done
    [[ -n $n ]] || die "usage: lab.sh up N [--systemd] [--force]"
    (( n >= 1 && n <= LAB_MAX_HOSTS )) || die "N must be 1..$LAB_MAX_HOSTS"
    [[ $mode == tiny ]] || command -v systemd-nspawn >/dev/null || die "--systemd needs systemd-nspawn (apt-get install systemd-container)"
    take_lock
    local other
    if other=$(foreign_lab); then
        die "another lab (LAB_DIR=$other) is up on this machine; run 'LAB_DIR=$other $0 down' first"
    fi
    if lab_is_up; then
        if (( force )); then
            note "lab is up ($LAB_N hosts, $LAB_MODE); --force: tearing it down first"
            do_down
        else
            echo "lab is already up: $LAB_N hosts, $LAB_MODE mode, dir $LAB_DIR (use 'down' first, or 'up N --force')"
            return 0
        fi
    elif [[ -f $STATE || -e /run/netns/$LAB_NETNS ]] || grep -qE '^node[0-9]+( |$)' <<<"$(ip netns list 2>/dev/null)"; then
        note "cleaning up leftovers of an earlier lab"
        do_down >/dev/null
    fi
    ensure_rootfs
    # from here on, a failed or interrupted `up` tears down what it started
    # (LAB_KEEP_FAILED=1 keeps it for debugging)
    UP_IN_PROGRESS=1
    trap 'up_abort' EXIT
    trap 'exit 130' INT TERM
    local t0 m0; t0=$(now_ms); m0=$(mem_used_kb)
    LAB_N=$n LAB_MODE=$mode
    ensure_key
    make_secrets
    make_common
    rm -rf "$LAB_DIR/hosts"; mkdir -p "$LAB_DIR/hosts"
    local k running=0
    for (( k = 1; k <= n; k++ )); do
        prep_host "$k" &
        if (( ++running >= 4 )); then wait -n; (( running-- )); fi
    done
    wait
    local t_prep; t_prep=$(now_ms)
    cat > "$STATE" <<EOF
LAB_N=$n
LAB_MODE=$mode
LAB_ROOTFS=$LAB_ROOTFS
LAB_STARTED=$(date +%s)
EOF
    echo "$LAB_DIR" > "$OWNER_FILE"
    net_up
    local t_net; t_net=$(now_ms)
    local all=()
    for (( k = 1; k <= n; k++ )); do launch_host "$k"; all+=("$k"); done
    local t_launch; t_launch=$(now_ms)
    local tmo=$(( 30 + n / 2 ))
    [[ $mode == systemd ]] && tmo=$(( 60 + n * 3 ))
    tmo=${LAB_READY_TIMEOUT:-$tmo}
    if ! wait_ssh "$tmo" "${all[@]}"; then
        note "not every sshd answered within ${tmo}s; status follows, console logs in $LAB_DIR/hosts/*/console.log"
        cmd_status_inner || true
        die "up failed"
    fi
    record_inits $(( $(now_ms) + 20000 )) "${all[@]}" || note "warning: could not find the PID 1 of every host"
    [[ $mode == systemd ]] && wait_booted "$tmo" "${all[@]}"
    local t_ready; t_ready=$(now_ms)
    write_outputs
    UP_IN_PROGRESS=0
    local used=$(( $(mem_used_kb) - m0 )) pss; pss=$(lab_pss_kb)
    echo "lab up: $n hosts ($mode) in $(( (t_ready - t0) ))ms" \
         "[prep $(( t_prep - t0 ))ms, net $(( t_net - t_prep ))ms, launch $(( t_launch - t_net ))ms, ready $(( t_ready - t_launch ))ms]"
    local sys="system 'used' grew $(( used / 1024 )) MiB = $(( used / n )) KiB/host (incl. kernel: netns, veths, mounts)"
    (( used > 0 )) || sys="system 'used' delta is noise at this size"
    echo "memory: processes $(( pss / 1024 )) MiB PSS = $(( pss / n )) KiB/host; $sys"
    echo "lab dir: $LAB_DIR   (source $LAB_DIR/lab.env; inventories hosts-{root,ubuntu,key}.ini; key id_ed25519; known_hosts)"
    echo "try: ip netns exec $LAB_NETNS ssh -o UserKnownHostsFile=$LAB_DIR/known_hosts -i $LAB_DIR/id_ed25519 root@$(host_ip 1) hostname"
}

UP_IN_PROGRESS=0
up_abort() {
    local rc=$?
    (( UP_IN_PROGRESS )) || return 0
    UP_IN_PROGRESS=0
    if [[ -n ${LAB_KEEP_FAILED:-} ]]; then
        note "up did not finish; LAB_KEEP_FAILED is set: leaving it as is ('lab.sh down' cleans up)"
    else
        note "up did not finish: tearing down what it started"
        do_down >/dev/null 2>&1 || true
    fi
    exit "$rc"
}

do_down() {
    load_state
    local k pids=() gone=() h l i
    # 1. SIGKILL every host's PID 1 (kills its whole PID namespace) and launcher, by recorded PID
    if [[ -d $LAB_DIR/hosts ]]; then
        for h in "$LAB_DIR"/hosts/node*; do
            [[ -d $h ]] || continue
            k=${h##*/node}
            l=$(read_pid "$h/launcher.pid"); i=$(read_pid "$h/init.pid")
            if launcher_ok "$l" "$k"; then
                init_ok "$i" "$k" || i=$(find_init "$l" || true)
                [[ -n $i ]] && kill -KILL "$i" 2>/dev/null || true
                pids+=("$k:$l")
                [[ -n $i ]] && gone+=("$i")
            fi
        done
    fi
    # 2. wait (bounded) for the launchers to exit, then force them
    local deadline=$(( $(now_ms) + 10000 )) left e
    while :; do
        left=()
        for e in "${pids[@]}"; do launcher_ok "${e#*:}" "${e%%:*}" && left+=("$e"); done
        (( ${#left[@]} == 0 )) && break
        if (( $(now_ms) > deadline )); then
            for e in "${left[@]}"; do kill -KILL "${e#*:}" 2>/dev/null || true; done
            sleep 0.2
            break
        fi
        sleep 0.05
    done
    # 3. anything still living in a lab netns (by PID from the kernel's view)
    local ns p
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
        [[ $ns =~ ^node[0-9]+$ || $ns == "$LAB_NETNS" ]] || continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    done
    # anything whose root directory is a lab overlay (e.g. a lost state file)
    for p in /proc/[0-9]*; do
        local root; root=$(readlink "$p/root" 2>/dev/null || true)
        [[ $root == "$LAB_DIR"/hosts/* ]] && kill -KILL "${p#/proc/}" 2>/dev/null || true
    done
    cgroup_cleanup
    # 4. mounts under the lab dir (none in normal operation: overlays live in the
    #    hosts' private mount namespaces), then netns/veths/bridge
    local mnt
    for (( i = 0; i < 3; i++ )); do
        mnt=$(findmnt -rn -o TARGET | grep -F "$LAB_DIR/" | sort -r || true)
        [[ -n $mnt ]] || break
        while read -r e; do umount -l "$e" 2>/dev/null || true; done <<<"$mnt"
    done
    net_down
    # iproute2 bind-mounts /run/netns onto itself on first use; drop it if we left it empty
    if findmnt -rn /run/netns >/dev/null 2>&1 && [[ -z $(ls -A /run/netns 2>/dev/null) ]]; then
        umount /run/netns 2>/dev/null || true
    fi
    # 5. our launchers were reparented to PID 1 when lab.sh exited: give it
    #    (bounded) time to reap them, so no zombie is left in `ps` either
    deadline=$(( $(now_ms) + 20000 ))
    for e in "${pids[@]}"; do gone+=("${e#*:}"); done
    for p in "${gone[@]}"; do
        while [[ -e /proc/$p ]] && (( $(now_ms) < deadline )); do sleep 0.1; done
    done
    # 6. state
    [[ -s $OWNER_FILE && $(cat "$OWNER_FILE") != "$LAB_DIR" ]] || rm -f "$OWNER_FILE"
    rm -rf "$LAB_DIR/hosts" "$LAB_DIR/common" "$LAB_DIR/devtmpl" "$LAB_DIR/secrets" "$LAB_DIR/askpass" \
           "$LAB_DIR"/hosts-*.ini "$LAB_DIR/known_hosts" "$LAB_DIR/lab.env" "$STATE"
    echo "lab down"
}

cmd_down() {
    take_lock
    local other
    if other=$(foreign_lab); then
        die "the lab on this machine belongs to LAB_DIR=$other, not $LAB_DIR; run 'LAB_DIR=$other $0 down'"
    fi
    do_down
}

# total PSS (KiB) of every lab process: the launchers and all their descendants
lab_pss_kb() {
    local roots=() h l
    for h in "$LAB_DIR"/hosts/node*; do
        l=$(read_pid "$h/launcher.pid"); [[ -n $l ]] && roots+=("$l")
    done
    (( ${#roots[@]} )) || { echo 0; return; }
    local pids
    pids=$(ps -e -o pid=,ppid= | awk -v roots="${roots[*]}" '
        BEGIN { n = split(roots, a, " "); for (i = 1; i <= n; i++) inset[a[i]] = 1 }
        { par[$1] = $2 }
        END {
            for (p in par) { q = p; d = 0
                while (q > 1 && d < 64) { if (q in inset) { print p; break } q = par[q]; d++ } }
        }')
    local files=() p
    for p in $pids; do files+=("/proc/$p/smaps_rollup"); done
    # processes may exit meanwhile: cat skips what it cannot read
    { cat "${files[@]}" 2>/dev/null || true; } | awk '/^Pss:/ {s += $2} END {print s + 0}' 
}

# one ps snapshot -> pid of the listening sshd under each init
sshd_pids() {  # prints "init_pid sshd_pid" lines for the given inits
    ps -e -o pid=,ppid=,comm= | awk -v inits="$*" '
        BEGIN { n = split(inits, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
        { ppid[$1] = $2; comm[$1] = $3 }
        END {
            for (p in comm) {
                if (comm[p] != "sshd" || comm[ppid[p]] == "sshd") continue
                q = ppid[p]; d = 0
                while (q > 1 && d < 8) { if (q in want) { print q, p; break } q = ppid[q]; d++ }
            }
        }'
}

cmd_status_inner() {
    load_state
    if (( LAB_N == 0 )); then echo "lab is down (dir $LAB_DIR)"; return 0; fi
    local k h l i inits=() links
    links=$(ip -n "$LAB_NETNS" -o link show 2>/dev/null || true)
    declare -A init_of sshd_of
    for (( k = 1; k <= LAB_N; k++ )); do
        h=$(hostdir "$k"); l=$(read_pid "$h/launcher.pid"); i=$(read_pid "$h/init.pid")
        if launcher_ok "$l" "$k"; then
            init_ok "$i" "$k" || i=$(find_init "$l" || true)
        else
            i=
        fi
        init_of[$k]=$i
        [[ -n $i ]] && inits+=("$i")
    done
    local a b
    while read -r a b; do [[ -n $a ]] && sshd_of[$a]=$b; done < <(sshd_pids "${inits[@]}")
    echo "lab: $LAB_N hosts, $LAB_MODE mode, dir $LAB_DIR, netns $LAB_NETNS ($LAB_GATEWAY_IP on $LAB_BRIDGE), processes $(( $(lab_pss_kb) / 1024 )) MiB PSS"
    printf '%-8s %-12s %-5s %-9s %-9s %-9s %s\n' HOST IP LINK LAUNCHER INIT SSHD STATE
    local link state s
    for (( k = 1; k <= LAB_N; k++ )); do
        h=$(hostdir "$k"); l=$(read_pid "$h/launcher.pid"); i=${init_of[$k]}
        if grep -qE "vnode$k@[^:]*: <[^>]*,UP[,>]" <<<"$links"; then link=up; else link=down; fi
        s=; [[ -n $i ]] && s=${sshd_of[$i]:-}
        if [[ -z $i ]]; then state=killed
        elif [[ -z $s ]]; then state=sshd-down
        elif [[ $link == down ]]; then state='cut'
        else state=up
        fi
        launcher_ok "$l" "$k" || l=-
        printf '%-8s %-12s %-5s %-9s %-9s %-9s %s\n' "node$k" "$(host_ip "$k")" "$link" "$l" "${i:--}" "${s:--}" "$state"
    done
}
cmd_status() { cmd_status_inner; }

require_up() { lab_is_up || die "lab is not up (lab.sh up N)"; }

cmd_kill() {
    [[ $# -eq 1 ]] || die "usage: lab.sh kill HOST"
    take_lock; require_up
    local k; k=$(host_num "$1")
    host_running "$k" || { echo "node$k is already stopped"; return 0; }
    kill_host "$k"
    echo "node$k killed (sshd gone: connections are refused)"
}

cmd_cut() {
    [[ $# -eq 1 ]] || die "usage: lab.sh cut HOST"
    take_lock; require_up
    local k; k=$(host_num "$1")
    ip -n "$LAB_NETNS" link set "vnode$k" down
    echo "node$k cut (its bridge port vnode$k is down: connections time out)"
}

cmd_revive() {
    [[ $# -eq 1 ]] || die "usage: lab.sh revive HOST"
    take_lock; require_up
    local k; k=$(host_num "$1")
    ip -n "$LAB_NETNS" link set "vnode$k" up
    if ! host_running "$k"; then
        kill_host "$k"    # reap leftovers in its netns, if any
        launch_host "$k"
        local tmo=${LAB_READY_TIMEOUT:-$([[ $LAB_MODE == systemd ]] && echo 60 || echo 20)}
        wait_ssh "$tmo" "$k" || die "node$k: sshd did not answer within ${tmo}s (see $(hostdir "$k")/console.log)"
        record_inits $(( $(now_ms) + 10000 )) "$k" || true
    elif [[ $LAB_MODE == systemd ]] && ! wait_ssh 2 "$k" 2>/dev/null; then
        # running, but its sshd was stopped from inside: start it again
        local i; i=$(read_pid "$(hostdir "$k")/init.pid")
        init_ok "$i" "$k" || i=$(find_init "$(read_pid "$(hostdir "$k")/launcher.pid")") || die "node$k: cannot find its PID 1"
        nsenter --target "$i" --mount --uts --ipc --net --pid --root --wd -- \
            env -i PATH="$GUEST_PATH" timeout 30 systemctl start ssh.service
        wait_ssh 20 "$k" || die "node$k: sshd did not come back"
    fi
    echo "node$k revived"
}

cmd_exec() {
    local host=${1:-}; shift || true
    [[ ${1:-} == -- ]] && shift
    [[ -n $host && $# -gt 0 ]] || die "usage: lab.sh exec HOST -- CMD [ARGS...]"
    require_up
    local k; k=$(host_num "$host")
    local h l i; h=$(hostdir "$k"); l=$(read_pid "$h/launcher.pid"); i=$(read_pid "$h/init.pid")
    launcher_ok "$l" "$k" || die "node$k is not running (lab.sh revive node$k)"
    init_ok "$i" "$k" || i=$(find_init "$l") || die "node$k: cannot find its PID 1"
    exec nsenter --target "$i" --mount --uts --ipc --net --pid --root --wd -- \
        env -i PATH="$GUEST_PATH" HOME=/root USER=root LOGNAME=root TERM="${TERM:-dumb}" "$@"
}

cmd_shell() {
    require_up
    if [[ $# -ge 1 ]]; then
        cmd_exec "$1" -- /bin/bash -l
    fi
    echo "lab: shell in netns '$LAB_NETNS' (taskbox side, $LAB_GATEWAY_IP); lab.env is sourced; exit to leave" >&2
    local rc; rc=$(printf '[ -f ~/.bashrc ] && . ~/.bashrc\n. %q\nPS1="[lab] $PS1"\n' "$LAB_DIR/lab.env")
    if [[ -t 0 ]]; then
        exec ip netns exec "$LAB_NETNS" bash --rcfile <(echo "$rc") -i
    fi
    exec ip netns exec "$LAB_NETNS" bash -c "$rc"$'\n''eval "$(cat)"'
}

cmd_inventory() {
    local reveal=0
    [[ ${1:-} == --reveal ]] && reveal=1
    take_lock; require_up
    write_outputs
    local f
    for f in hosts-root.ini hosts-ubuntu.ini hosts-key.ini; do
        echo "==> $LAB_DIR/$f"
        if (( reveal )); then cat "$LAB_DIR/$f"
        else sed -E 's/(ansible_(ssh|become)_pass=)[^ ]*/\1********/g' "$LAB_DIR/$f"
        fi
        echo
    done
    echo "==> $LAB_DIR/known_hosts ($(wc -l < "$LAB_DIR/known_hosts") keys), $LAB_DIR/lab.env"
    (( reveal )) || echo "(passwords masked; they are in $LAB_DIR/secrets/{root,ubuntu}.password, or use --reveal)"
}

usage() {
    sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'
}

main() {
    local cmd=${1:-}; shift || true
    case $cmd in
        ""|-h|--help|help) usage; return 0 ;;
    esac
    need_root
    check_lab_dir
    case $cmd in
        up) check_deps; cmd_up "$@" ;;
        deps) cmd_deps ;;
        down) cmd_down ;;
        status) cmd_status ;;
        kill) cmd_kill "$@" ;;
        cut) cmd_cut "$@" ;;
        revive) cmd_revive "$@" ;;
        exec) load_state; cmd_exec "$@" ;;
        shell) load_state; cmd_shell "$@" ;;
        inventory) cmd_inventory "$@" ;;
        rootfs) check_deps; take_lock; ensure_rootfs; echo "$LAB_ROOTFS" ;;
        *) die "unknown command '$cmd' (see lab.sh --help)" ;;
    esac
}

main "$@"
