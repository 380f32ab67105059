#!/usr/bin/env bash
# Distribution benchmark: prints figures, it is not a timed test.
#
#   scripts/bench-distribute.sh [--sizes "20 50 100"] [--rate 200mbit]
#                               [--bundle DIR] [--vars FILE] [--release]
#
# The same bundle (each host's part of it, as the install selects it) goes
# to N lab hosts two ways, with this machine's side of the lab network
# (the lab netns's br0: what this machine sends, not what hosts send each
# other) limited by `tc` to --rate, modelling one uplink:
#   floor   parallel `scp` of each host's files from here, one scp per host,
#           all at once (what an operator would script), as `ubuntu`
#   served  `ksinstall stage`: hosts fetch over HTTP, from here for the first
#           copies of each file, then from each other (install --serve-bundle)
# For each it prints the wall time and the bytes this machine's link sent
# (br0's TX counter), against the bundle's files and the bytes delivered.
#
# Default bundle: the one tests/e2e_online.rs leaves (Debian packages of a
# Kubernetes 1.28 cluster, about 70 MB per host); any `bundle build` output
# works with its vars.yml (--vars). Needs root (the lab); tiny-mode hosts.
set -euo pipefail

SIZES="20 50 100"
RATE=200mbit
BUNDLE=/var/tmp/ksinstall-e2e-online/bundle
VARS=/var/tmp/ksinstall-e2e-online/installer/conf/vars.yml
PROFILE=debug
while (( $# )); do
    case $1 in
        --sizes) SIZES=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --bundle) BUNDLE=$2; shift 2 ;;
        --vars) VARS=$2; shift 2 ;;
        --release) PROFILE=release; shift ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ $EUID -eq 0 ]] || { echo "bench-distribute: needs root (network namespaces)" >&2; exit 1; }
[[ -f $BUNDLE/manifest.json ]] || { echo "bench-distribute: no bundle at $BUNDLE (run tests/e2e_online.rs once, or give --bundle)" >&2; exit 1; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB_DIR=${LAB_DIR:-/var/tmp/ksinstall-lab}
export LAB_DIR
W=${BENCH_DIR:-/var/tmp/ksinstall-bench-distribute}
mkdir -p "$W/conf"; chmod 700 "$W"
NS="ip netns exec lab"
command -v sshpass >/dev/null || apt-get install -y -qq sshpass >/dev/null
if [[ $PROFILE == release ]]; then (cd "$ROOT" && cargo build -q --release --bins); else (cd "$ROOT" && cargo build -q --bins); fi
BIN=$ROOT/target/$PROFILE/ksinstall

cleanup() {
    $NS tc qdisc del dev br0 root 2>/dev/null || true
}
trap cleanup EXIT

tx() { $NS cat /sys/class/net/br0/statistics/tx_bytes; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
host_ip() { local n=$(( 10 + $1 )); echo "10.77.$(( n / 256 )).$(( n % 256 ))"; }

# Every host's files gone (the floor's copies, the cache), so each run
# starts empty, and the floor's directory made (outside its timing).
wipe() {
    local k
    for (( k = 1; k <= $1; k++ )); do
        "$ROOT/scripts/lab.sh" exec "node$k" -- sh -c 'rm -rf /tmp/floor /var/lib/ksinstall; mkdir /tmp/floor; chown ubuntu /tmp/floor' >/dev/null 2>&1 || true
    done
}

floor() {  # N
    local list=$W/list password
    password=$(cat "$LAB_DIR/secrets/ubuntu.password")
    $NS "$BIN" stage --conf "$W/conf" --bundle "$BUNDLE" --list > "$list" 2>/dev/null
    local k pids=()
    for (( k = 1; k <= $1; k++ )); do
        awk -v h="node$k" -v b="$BUNDLE" '$1 == h {print b "/" $2}' "$list" > "$W/files.$k"
        SSHPASS=$password $NS sshpass -e scp -q -o UserKnownHostsFile="$LAB_DIR/known_hosts" \
            $(cat "$W/files.$k") "ubuntu@$(host_ip "$k"):/tmp/floor/" &
        pids+=($!)
    done
    local p rc=0
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

served() {  # N
    $NS "$BIN" stage --conf "$W/conf" --bundle "$BUNDLE" --known-hosts "$LAB_DIR/known_hosts" 2>&1 \
        | grep -E '^bundle served|WARNING|ERROR' || true
}

printf '%-6s %-8s %-10s %-10s %-12s %-12s %-12s %s\n' hosts bundleMB deliverMB floor_s served_s floor_txMB served_txMB "served tx / bundle"
for n in $SIZES; do
    "$ROOT/scripts/lab.sh" up "$n" --force >/dev/null
    cp "$LAB_DIR/hosts-ubuntu.ini" "$W/conf/hosts.ini"
    cp "$VARS" "$W/conf/vars.yml"
    $NS tc qdisc replace dev br0 root tbf rate "$RATE" burst 256kb latency 400ms
    # What the hosts get: the union (the bundle's part in play), and all of it.
    $NS "$BIN" stage --conf "$W/conf" --bundle "$BUNDLE" --list 2>/dev/null > "$W/list"
    mb() { (cd "$BUNDLE" && xargs stat -c %s) | awk '{ s += $1 } END { printf "%.0f", s / 1e6 }'; }
    bundle_mb=$(awk '{print $2}' "$W/list" | sort -u | mb)
    deliver_mb=$(awk '{print $2}' "$W/list" | mb)

    wipe "$n"
    t0=$(now); b0=$(tx)
    floor "$n" || echo "bench-distribute: an scp failed at $n hosts" >&2
    floor_s=$(since "$t0"); floor_tx=$(( ($(tx) - b0) / 1000000 ))

    wipe "$n"
    t0=$(now); b0=$(tx)
    line=$(served "$n")
    served_s=$(since "$t0"); served_tx=$(( ($(tx) - b0) / 1000000 ))
    echo "$line" >&2
    printf '%-6s %-8s %-10s %-10s %-12s %-12s %-12s %s\n' "$n" "$bundle_mb" "$deliver_mb" "$floor_s" "$served_s" \
        "$floor_tx" "$served_tx" "$(awk -v a="$served_tx" -v b="$bundle_mb" 'BEGIN { printf "%.2fx", a / b }')"
    wipe "$n"
done
"$ROOT/scripts/lab.sh" down >/dev/null
