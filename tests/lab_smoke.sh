#!/usr/bin/env bash
# Smoke test of the lab (scripts/lab.sh): real sshd hosts in namespaces.
#
#   tests/lab_smoke.sh              # tiny mode (3 hosts)
#   LAB_SMOKE_SYSTEMD=1 tests/lab_smoke.sh   # --systemd mode, also checks systemctl
#
# If a lab is already up (same LAB_DIR) it is used and left up; otherwise the
# test brings up 3 hosts and takes them down again at the end, checking that
# no process, mount or netns is left behind. Skips (exit 0) when not root.
# Bounded: the whole run is under `timeout` (LAB_SMOKE_TIMEOUT, default 600 s: a first run builds the rootfs),
# every ssh has ConnectTimeout. Prints "N passed, N failed"; exits 1 on failure.
set -uo pipefail

if [[ $EUID -ne 0 ]]; then
    echo "SKIP: tests/lab_smoke.sh needs root (network namespaces, mounts)"
    exit 0
fi
if [[ -z ${LAB_SMOKE_INNER:-} ]]; then
    export LAB_SMOKE_INNER=1
    exec timeout -k 15 "${LAB_SMOKE_TIMEOUT:-600}" "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=$ROOT/scripts/lab.sh
export LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}
pass=0 fail=0 we_started=0

ok()   { echo "ok   - $*"; pass=$(( pass + 1 )); }
bad()  { echo "FAIL - $*"; fail=$(( fail + 1 )); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
nope() { ! "$@"; }

finish() {
    local rc=$?
    if (( we_started )); then
        "$LAB" down >/dev/null 2>&1 || true
    fi
    echo "lab smoke: $pass passed, $fail failed"
    (( fail == 0 && rc == 0 )) || exit 1
    exit 0
}
trap finish EXIT
trap 'echo "lab smoke: interrupted/timed out"; fail=$(( fail + 1 )); exit 1' TERM INT

mode_args=()
[[ -n ${LAB_SMOKE_SYSTEMD:-} ]] && mode_args=(--systemd)

if [[ -f $LAB_DIR/state && -e /run/netns/lab && -f $LAB_DIR/lab.env ]]; then
    echo "# using the lab that is already up in $LAB_DIR"
else
    echo "# bringing up 3 hosts ${mode_args[*]}"
    we_started=1
    if ! "$LAB" up 3 "${mode_args[@]}"; then bad "lab.sh up 3 ${mode_args[*]}"; exit 1; fi
fi
# shellcheck disable=SC1091
. "$LAB_DIR/lab.env"
(( LAB_N >= 2 )) || { bad "the lab needs at least 2 hosts (has $LAB_N)"; exit 1; }
IP1=$(awk '{print $1}' <<<"$LAB_IPS") IP2=$(awk '{print $2}' <<<"$LAB_IPS")

SSHOPTS=(-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$LAB_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
         -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=2 -o LogLevel=ERROR)
# key login (BatchMode: never prompts)
kssh() { timeout 30 ip netns exec "$LAB_NETNS" ssh "${SSHOPTS[@]}" -o BatchMode=yes -i "$LAB_SSH_KEY" "$@"; }
# password login: the password goes from its 0600 file through SSH_ASKPASS, never a command line
pssh() {
    local pwfile=$1; shift
    LAB_PASSWORD_FILE=$pwfile SSH_ASKPASS=$LAB_ASKPASS SSH_ASKPASS_REQUIRE=force \
        timeout 30 ip netns exec "$LAB_NETNS" ssh "${SSHOPTS[@]}" -o PubkeyAuthentication=no \
        -o PreferredAuthentications=password,keyboard-interactive -o NumberOfPasswordPrompts=1 "$@" </dev/null
}

# --- logins
check "key login root@$IP1 prints node1"       [ "$(kssh "root@$IP1" hostname 2>&1)" = node1 ]
check "key login ubuntu@$IP2 is ubuntu"         [ "$(kssh "ubuntu@$IP2" whoami 2>&1)" = ubuntu ]
check "root password login"                     [ "$(pssh "$LAB_ROOT_PASSWORD_FILE" "root@$IP2" 'echo $(whoami)@$(hostname)' 2>&1)" = "root@node2" ]
check "ubuntu password login"                   [ "$(pssh "$LAB_UBUNTU_PASSWORD_FILE" "ubuntu@$IP1" whoami 2>&1)" = ubuntu ]
wrongpw=$(mktemp); echo "definitely-not-it" > "$wrongpw"
check "wrong root password is refused"          nope pssh "$wrongpw" "root@$IP1" true 2>/dev/null
# --- sudo needs the password
check "ubuntu: sudo -n fails (password required)" nope kssh "ubuntu@$IP1" 'sudo -k; sudo -n true' 2>/dev/null
check "ubuntu: sudo -S with the password works"   [ "$(kssh "ubuntu@$IP1" 'sudo -k; sudo -S -p "" whoami' < "$LAB_UBUNTU_PASSWORD_FILE" 2>/dev/null)" = root ]
check "ubuntu: sudo -S with a wrong password fails" nope kssh "ubuntu@$IP1" 'sudo -k; sudo -S -p "" true' < "$wrongpw" 2>/dev/null
rm -f "$wrongpw"
# --- host identity
check "each host has its own hostname and host key" \
    [ "$(kssh "root@$IP2" hostname)" = node2 -a "$(grep -c "^node1," "$LAB_KNOWN_HOSTS")" -ge 1 ]
check "hosts have distinct machine-ids" \
    [ "$(kssh "root@$IP1" cat /etc/machine-id)" != "$(kssh "root@$IP2" cat /etc/machine-id)" ]
check "node1 reaches node2 over the bridge" kssh "root@$IP1" "timeout 5 bash -c 'exec 3<>/dev/tcp/$IP2/22'"
check "lab.sh exec runs inside the host"  [ "$("$LAB" exec node2 -- hostname)" = node2 ]
if [[ $LAB_MODE == systemd ]]; then
    check "systemctl works (ssh.service active)" [ "$(kssh "root@$IP1" systemctl is-active ssh)" = active ]
    check "systemd is PID 1"                     [ "$(kssh "root@$IP1" cat /proc/1/comm)" = systemd ]
fi
# --- files
perm() { stat -c %a "$1"; }
check "inventories are mode 600" \
    [ "$(perm "$LAB_INVENTORY_ROOT")$(perm "$LAB_INVENTORY_UBUNTU")$(perm "$LAB_INVENTORY_KEY")" = 600600600 ]
check "password files are mode 600" [ "$(perm "$LAB_ROOT_PASSWORD_FILE")$(perm "$LAB_UBUNTU_PASSWORD_FILE")" = 600600 ]
check "inventory layout (kube-master/etcd/kube-node/k8s-cluster:children)" \
    grep -qx '\[k8s-cluster:children\]' "$LAB_INVENTORY_KEY"
check "ubuntu inventory has ansible_become_pass" grep -q 'ansible_user=ubuntu .*ansible_become_pass=' "$LAB_INVENTORY_UBUNTU"
rootpw=$(cat "$LAB_ROOT_PASSWORD_FILE") ubpw=$(cat "$LAB_UBUNTU_PASSWORD_FILE")
check "no password in lab.env" nope grep -qF -e "$rootpw" -e "$ubpw" "$LAB_DIR/lab.env"
leak=0
for f in /proc/[0-9]*/cmdline; do
    if grep -qF -e "$rootpw" -e "$ubpw" <<<"$({ tr '\0' ' ' < "$f"; } 2>/dev/null)"; then leak=1; fi
done
check "no password on any process command line" [ $leak = 0 ]
unset rootpw ubpw
# --- network rule: nothing of the lab in the root netns; lab netns routes only its /16
check "root netns has no 10.77. address" [ -z "$(ip -o addr show | grep ' 10\.77\.')" ]
guarded() { [[ $(ip route show 10.77.0.0/16) == unreachable* && $(ip route get "$IP1" 2>&1) == *"No route to host"* ]]; }
check "root netns: lab IPs are unreachable (guard route, nothing leaves the machine)" guarded
check "lab netns has only the lab subnet route" \
    [ "$(ip -n "$LAB_NETNS" route show | awk '{print $1}' | sort -u | tr '\n' ' ')" = "10.77.0.0/16 " ]
# --- failure injection on node2
"$LAB" kill node2 >/dev/null
out=$(kssh "root@$IP2" true 2>&1); rc=$?
check "kill: connection refused (rc=$rc: $out)" grep -q 'refused' <<<"$out"
"$LAB" revive node2 >/dev/null
check "revive after kill: back" [ "$(kssh "root@$IP2" hostname 2>&1)" = node2 ]
"$LAB" cut node2 >/dev/null
t0=$(date +%s)
out=$(timeout 30 ip netns exec "$LAB_NETNS" ssh "${SSHOPTS[@]}" -o BatchMode=yes -o ConnectTimeout=2 -i "$LAB_SSH_KEY" "root@$IP2" true 2>&1)
t1=$(date +%s)
check "cut: connection times out ($out)" grep -qi 'timed out' <<<"$out"
check "cut: took >= 2s" [ $(( t1 - t0 )) -ge 2 ]
"$LAB" revive node2 >/dev/null
check "revive after cut: back" [ "$(kssh "root@$IP2" hostname 2>&1)" = node2 ]
check "status shows node2 up" grep -qE '^node2 .* up$' <<<"$("$LAB" status)"

# --- down leaves nothing behind (only when we brought the lab up)
if (( we_started )); then
    "$LAB" down >/dev/null
    we_started=0
    check "down: no lab netns left" [ -z "$(ip netns list | grep -E '^(lab|node[0-9]+)( |$)')" ]
    check "down: guard route removed" [ -z "$(ip route show 10.77.0.0/16)" ]
    check "down: no mounts under LAB_DIR" [ -z "$(findmnt -rn -o TARGET,SOURCE,OPTIONS | grep -F "$LAB_DIR")" ]
    lab_procs() { ps -e -o pid=,stat=,args= | grep -E 'lab-init|stage1\.sh|nspawn\.sh|systemd-nspawn .*ksinstall-lab|sshd: /usr/sbin/sshd -D -e' | grep -v grep; }
    left=$(lab_procs)
    [[ -z $left ]] || echo "# still there right after down: $left"
    check "down: no lab processes" [ -z "$left" ]
fi
exit 0
