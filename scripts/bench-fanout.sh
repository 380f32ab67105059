#!/usr/bin/env bash
# Fan-out benchmark: prints figures, it is not a timed test.
#
#   scripts/bench-fanout.sh [--sizes "5 20 50 100"] [--runs 3]
#                           [--tools "ksinstall floor pyinfra ansible ansible-tuned"]
#                           [--use-running-lab | --loopback] [--debug-build]
#
# Workload W, on every lab host, logged in as `ubuntu` whose sudo needs the
# password: mkdir, upload 3 files of ~20 KB, run 5 short commands
# (hostname, cat /etc/os-release, sha256sum of the files, test -f, uname -r)
# collecting their output; then all of it again (the idempotent re-run).
#
# Tools:
#   ksinstall      the engine (benches/fanout.rs), default --forks
#   floor          parallel OpenSSH: one `ssh` per host and pass, the files
#                  as here-docs into `sudo -S bash -s`, `xargs -P N`, the
#                  password through `sshpass -e` (environment), never argv
#   pyinfra        from PyPI, in a venv this script creates
#   ansible        ansible-core from PyPI, default forks=5
#   ansible-tuned  forks=N, pipelining, ControlPersist
#
# The lab comes from scripts/lab.sh (KSINSTALL_LAB_SH, else scripts/lab.sh of
# this tree): for each size it runs `lab.sh up N --force` unless
# --use-running-lab is given (then sizes above the running lab's are
# skipped). Every tool runs inside the lab's network namespace and reaches
# only the lab's hosts. Prints medians of --runs runs, ratios to ksinstall,
# and ksinstall's peak RSS (/usr/bin/time -v).
#
# --loopback: no lab; instead N throwaway sshd processes on 127.0.1.K:2200
# (this machine's loopback), a user ksi_bench whose sudo needs its
# (random) password, all killed by PID and the sudoers drop-in removed at
# exit. For when the lab is busy; the hosts share the CPU just as lab hosts do.
set -euo pipefail

SIZES="5 20 50 100"
RUNS=3
TOOLS="ksinstall floor pyinfra ansible ansible-tuned"
USE_RUNNING=0
LOOPBACK=0
PORT=22
USER_=ubuntu
PROFILE=release
while (( $# )); do
    case $1 in
        --sizes) SIZES=$2; shift 2 ;;
        --runs) RUNS=$2; shift 2 ;;
        --tools) TOOLS=$2; shift 2 ;;
        --use-running-lab) USE_RUNNING=1; shift ;;
        --loopback) LOOPBACK=1; shift ;;
        --debug-build) PROFILE=debug; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ $EUID -eq 0 ]] || { echo "bench-fanout: needs root (network namespaces)" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB_SH=${KSINSTALL_LAB_SH:-$ROOT/scripts/lab.sh}
LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}
export LAB_DIR
W=${BENCH_DIR:-/var/tmp/ksinstall-bench}
mkdir -p "$W"; chmod 700 "$W"
NS="ip netns exec lab"
PASSWORD_FILE=$LAB_DIR/secrets/ubuntu.password
if (( LOOPBACK )); then
    NS=""
    PORT=2200
    USER_=ksi_bench
    PASSWORD_FILE=$W/loopback.password
else
    [[ -x $LAB_SH || -f $LAB_SH ]] || { echo "bench-fanout: no lab script at $LAB_SH (set KSINSTALL_LAB_SH)" >&2; exit 1; }
fi

# ---------------------------------------------------------------- loopback hosts
SSHD_PIDS=()
loopback_cleanup() {
    local p
    for p in "${SSHD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -f /etc/sudoers.d/ksinstall-bench
}
loopback_setup() {
    trap loopback_cleanup EXIT
    id ksi_bench >/dev/null 2>&1 || useradd -m -s /bin/bash ksi_bench
    ( umask 077; head -c 12 /dev/urandom | base64 | tr -d '/+=' > "$PASSWORD_FILE" )
    printf 'ksi_bench:%s\n' "$(cat "$PASSWORD_FILE")" | chpasswd
    echo "ksi_bench ALL=(ALL:ALL) ALL" > /etc/sudoers.d/ksinstall-bench
    chmod 0440 /etc/sudoers.d/ksinstall-bench
    mkdir -p /run/sshd
    [[ -f $W/host_key ]] || ssh-keygen -q -t ed25519 -N '' -f "$W/host_key"
}
loopback_up() {  # N
    local k p
    for p in "${SSHD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    SSHD_PIDS=()
    sleep 0.3
    for (( k = 1; k <= $1; k++ )); do
        printf '%s\n' "Port $PORT" "ListenAddress $(host_ip "$k")" "HostKey $W/host_key" "PidFile none" \
            "UsePAM no" "PasswordAuthentication yes" "KbdInteractiveAuthentication no" \
            "MaxStartups 200:30:300" "LogLevel ERROR" "Subsystem sftp internal-sftp" > "$W/sshd_config.$k"
        timeout 3600 /usr/sbin/sshd -D -f "$W/sshd_config.$k" 2>>"$W/sshd.log" &
        SSHD_PIDS+=($!)
    done
    sleep 1
}

need() { command -v "$1" >/dev/null || { echo "bench-fanout: installing $2" >&2; apt-get install -y -qq "$2" >/dev/null; }; }
need sshpass sshpass
[[ -x /usr/bin/time ]] || need time time

# ---------------------------------------------------------------- tools
build_ksinstall() {
    local args=(--bench fanout --no-run --message-format=json)
    [[ $PROFILE == debug ]] && args+=(--profile dev)
    FANOUT=$(cd "$ROOT" && cargo bench "${args[@]}" 2>/dev/null \
        | python3 -c 'import sys,json
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="fanout" and m.get("executable"): print(m["executable"])' | tail -1)
    [[ -x $FANOUT ]] || { echo "bench-fanout: could not build benches/fanout.rs" >&2; exit 1; }
}

venv() {
    if [[ ! -x $W/venv/bin/pyinfra || ! -x $W/venv/bin/ansible-playbook ]]; then
        echo "bench-fanout: creating $W/venv (pyinfra, ansible-core from PyPI)" >&2
        python3 -m venv "$W/venv"
        "$W/venv/bin/pip" install -q pyinfra ansible-core >&2
    fi
}

# ---------------------------------------------------------------- inputs
make_files() {
    mkdir -p "$W/files"
    local i
    for i in 1 2 3; do
        [[ -s $W/files/file$i.txt ]] || head -c 15000 /dev/urandom | base64 -w 76 > "$W/files/file$i.txt"
    done
}

host_ip() {
    local n=$(( 10 + $1 ))
    if (( LOOPBACK )); then echo "127.0.$(( 1 + n / 256 )).$(( n % 256 ))"
    else echo "10.77.$(( n / 256 )).$(( n % 256 ))"; fi
}

make_inventories() {  # N
    local n=$1 k pw
    pw=$(cat "$PASSWORD_FILE")
    ( umask 077
      { echo "[all]"
        for (( k = 1; k <= n; k++ )); do
            echo "node$k ansible_host=$(host_ip "$k") ansible_port=$PORT ansible_user=$USER_ ansible_ssh_pass=$pw ansible_become_pass=$pw"
        done
      } > "$W/hosts.ini"
      for (( k = 1; k <= n; k++ )); do host_ip "$k"; done > "$W/hosts.txt"
      printf '%s\n' "$pw" > "$W/ubuntu.password"
      # pyinfra inventory: reads the password from the file at import time.
      cat > "$W/pyinfra_inventory.py" <<EOF
_pw = open("$W/ubuntu.password").read().strip()
_data = {"ssh_user": "$USER_", "ssh_port": $PORT, "ssh_password": _pw, "_sudo": True, "_sudo_password": _pw,
         "ssh_known_hosts_file": "$W/kh_pyinfra", "ssh_strict_host_key_checking": "off"}
hosts = [(ip.strip(), dict(_data)) for ip in open("$W/hosts.txt") if ip.strip()]
EOF
    )
}

cmds() {  # DIR -> the five commands, one a line
    local d=$1
    printf '%s\n' hostname "cat /etc/os-release" "sha256sum $d/file1.txt $d/file2.txt $d/file3.txt" "test -f $d/file1.txt" "uname -r"
}

make_floor_payload() {
    local d=/tmp/ksi-bench-floor f
    ( umask 077
      { cat "$W/ubuntu.password"
        echo "set -e; mkdir -p $d"
        for f in file1.txt file2.txt file3.txt; do
            echo "cat > $d/$f <<'KSI_EOF_$f'"; cat "$W/files/$f"; echo "KSI_EOF_$f"
        done
        cmds "$d"
      } > "$W/floor-payload"
    )
}

make_ansible() {
    local d=/tmp/ksi-bench-ansible
    {
        echo "- hosts: all"
        echo "  gather_facts: false"
        echo "  become: true"
        echo "  tasks:"
        echo "    - file: {path: $d, state: directory}"
        for f in file1.txt file2.txt file3.txt; do
            echo "    - copy: {src: $W/files/$f, dest: $d/$f, mode: '0644'}"
        done
        local i=0 c
        while IFS= read -r c; do
            i=$(( i + 1 ))
            echo "    - command: $c"
            echo "      register: out$i"
            echo "      changed_when: false"
        done < <(cmds "$d")
    } > "$W/playbook.yml"
}

make_pyinfra_deploy() {
    local d=/tmp/ksi-bench-pyinfra
    {
        echo "from pyinfra.operations import files, server"
        echo "files.directory(name='dir', path='$d')"
        for f in file1.txt file2.txt file3.txt; do
            echo "files.put(name='$f', src='$W/files/$f', dest='$d/$f', mode='644')"
        done
        local c
        while IFS= read -r c; do echo "server.shell(name='$c', commands=['$c'])"; done < <(cmds "$d")
    } > "$W/deploy.py"
}

ansible_cfg() {  # FORKS TUNED
    local cp
    cp=$(mktemp -d "$W/cp.XXXX")
    cat > "$W/ansible.cfg" <<EOF
[defaults]
host_key_checking = False
forks = $1
stdout_callback = default
retry_files_enabled = False
[ssh_connection]
control_path_dir = $cp
EOF
    if [[ $2 == 1 ]]; then
        cat >> "$W/ansible.cfg" <<EOF
pipelining = True
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=$W/kh_ansible
EOF
    else
        echo "ssh_args = -o ControlMaster=no -o UserKnownHostsFile=$W/kh_ansible" >> "$W/ansible.cfg"
    fi
    # Host keys are new at every lab `up`: a known_hosts of its own, started
    # empty, keeps Ansible's ssh from refusing a "changed" key.
    rm -f "$W/kh_ansible"
}

# ---------------------------------------------------------------- runs
now() { date +%s.%N; }

clean_hosts() {
    $NS "$FANOUT_CLEAN" >/dev/null 2>&1 || true
}

run_tool() {  # TOOL N -> prints seconds; 1 on failure
    local tool=$1 n=$2 t0 t1 rc=0
    rm -f "$W/kh_"*
    t0=$(now)
    case $tool in
        ksinstall)
            $NS /usr/bin/time -v -o "$W/time.txt" "$FANOUT" "$W/hosts.ini" "$W/files" "$W/kh_ks" > "$W/out-$tool.txt" 2>&1 || rc=$?
            ;;
        floor)
            export SSHPASS
            SSHPASS=$(cat "$W/ubuntu.password")
            $NS xargs -P "$n" -I{} sh -c '
                for pass in 1 2; do
                  sshpass -e ssh -T -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='"$W"'/kh_floor \
                    -o PubkeyAuthentication=no -o PreferredAuthentications=password -o LogLevel=ERROR -p '"$PORT"' \
                    '"$USER_"'@{} "sudo -S -p \"\" bash -s" < '"$W"'/floor-payload > '"$W"'/floor-out-{}-$pass || exit 1
                done' < "$W/hosts.txt" > "$W/out-$tool.txt" 2>&1 || rc=$?
            unset SSHPASS
            ;;
        pyinfra)
            for pass in 1 2; do
                (cd "$W" && $NS "$W/venv/bin/pyinfra" -y --parallel "$n" pyinfra_inventory.py deploy.py) > "$W/out-$tool.txt" 2>&1 || { rc=$?; break; }
            done
            ;;
        ansible|ansible-tuned)
            if [[ $tool == ansible ]]; then ansible_cfg 5 0; else ansible_cfg "$n" 1; fi
            for pass in 1 2; do
                (cd "$W" && ANSIBLE_CONFIG=$W/ansible.cfg $NS "$W/venv/bin/ansible-playbook" -i hosts.ini playbook.yml) > "$W/out-$tool.txt" 2>&1 || { rc=$?; break; }
            done
            ;;
    esac
    t1=$(now)
    if (( rc != 0 )); then
        echo "bench-fanout: $tool on $n hosts failed (rc=$rc), tail of its output:" >&2
        tail -5 "$W/out-$tool.txt" | sed -E 's/(ansible_(ssh|become)_pass=)[^ ]*/\1***/g' >&2
        return 1
    fi
    python3 -c "print(f'{$t1 - $t0:.3f}')"
}

median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):.2f}" if v else "-")' "$@"; }

# ---------------------------------------------------------------- main
build_ksinstall
FANOUT_CLEAN=$W/clean.sh
make_files
(( LOOPBACK )) && loopback_setup
[[ " $TOOLS " == *" pyinfra "* || " $TOOLS " == *" ansible"* ]] && venv
RESULTS=$W/results.txt
: > "$RESULTS"
for n in $SIZES; do
    if (( LOOPBACK )); then
        loopback_up "$n"
    elif (( USE_RUNNING )); then
        running=$(awk -F= '$1=="LAB_N"{print $2}' "$LAB_DIR/state" 2>/dev/null || echo 0)
        (( n <= running )) || { echo "bench-fanout: running lab has $running hosts, skipping $n" >&2; continue; }
    else
        bash "$LAB_SH" up "$n" --force >&2
    fi
    make_inventories "$n"
    make_floor_payload
    make_ansible
    make_pyinfra_deploy
    cat > "$FANOUT_CLEAN" <<EOF
#!/bin/sh
exec "$ROOT/target/$([[ $PROFILE == debug ]] && echo debug || echo release)/ksinstall" run -q -b -i "$W/hosts.ini" --known-hosts "$W/kh_clean" --log-dir "$W/logs" -- 'rm -rf /tmp/ksi-bench /tmp/ksi-bench-*'
EOF
    chmod +x "$FANOUT_CLEAN"
    (cd "$ROOT" && cargo build -q $([[ $PROFILE == release ]] && echo --release) --bin ksinstall)
    for tool in $TOOLS; do
        times=()
        rss=()
        for (( r = 1; r <= RUNS; r++ )); do
            clean_hosts
            if t=$(run_tool "$tool" "$n"); then
                times+=("$t")
                [[ $tool == ksinstall ]] && rss+=("$(awk -F': ' '/Maximum resident/ {print $2}' "$W/time.txt")")
            fi
        done
        m=$(median "${times[@]}")
        extra=""
        (( ${#rss[@]} )) && extra=" rss_kb=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)"
        echo "$n $tool $m${extra}  runs: ${times[*]:-none}" | tee -a "$RESULTS" >&2
    done
done

echo
python3 - "$RESULTS" <<'EOF'
import sys
rows = {}
rss = {}
for line in open(sys.argv[1]):
    f = line.split()
    n, tool, med = int(f[0]), f[1], f[2]
    rows.setdefault(n, {})[tool] = None if med == "-" else float(med)
    for x in f[3:]:
        if x.startswith("rss_kb="):
            rss[n] = int(x.split("=")[1])
tools = ["ksinstall", "floor", "pyinfra", "ansible", "ansible-tuned"]
print("Workload W (both passes), median seconds; (x) = ratio to ksinstall")
print(f"{'hosts':>5}  " + "  ".join(f"{t:>20}" for t in tools) + "  ksinstall peak RSS")
for n in sorted(rows):
    base = rows[n].get("ksinstall")
    cells = []
    for t in tools:
        v = rows[n].get(t)
        if v is None:
            cells.append(f"{'-':>20}")
        elif base and t != "ksinstall":
            cells.append(f"{v:>12.2f} ({v / base:5.2f}x)")
        else:
            cells.append(f"{v:>20.2f}")
    r = f"{rss[n] / 1024:.1f} MB" if n in rss else "-"
    print(f"{n:>5}  " + "  ".join(cells) + f"  {r}")
EOF
