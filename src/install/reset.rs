//! `reset` (the legacy `uninstall.sh`): takes back what the install put on
//! each host, read from the same rendered files the install pushes, so the
//! two cannot drift apart; then the same hosts install again cleanly.
//!
//! Kept on purpose: the OS packages (containerd, haproxy, ... as the legacy
//! reset kept docker), the container images, the runtime configuration the
//! install merged into (it was the operator's file first), and the etcd
//! data, which is moved aside (`<data dir>.reset-<time>`), never deleted.

use std::path::Path;
use std::process::ExitCode;

use super::ops::{self, Op};
use super::phases::HostFile;
use super::run::{begin, facts_of_all, RunOptions};
use crate::bundle::select::{HOST_APT_STATE_DIR, HOST_REPO_DIR, YUM_REPO_FILE};
use crate::config::KubeVersion;
use crate::exec::shell::sh_quote;
use crate::model::{versions, Cluster};
use crate::render::{Component, LbService};

/// Resets every host of the cluster, then moves the installer's record of
/// it (`state/`, `kubesphere/`) aside, so the next install starts afresh.
pub fn run(mut cluster: Cluster, opts: &RunOptions) -> anyhow::Result<ExitCode> {
    let (_lock, engine) = begin(&cluster, opts, "Uninstall")?;
    let facts = facts_of_all(&engine, &mut cluster, opts)?;
    let prepared = super::files::prepare(
        &engine,
        &cluster,
        &facts,
        &opts.installer_dir,
        &opts.conf_dir,
    )?;
    let hosts = super::phases::cluster_hosts(&cluster);
    println!(
        "== reset: take back what the install put ({} hosts)",
        hosts.len()
    );
    let step = engine.step("reset", &hosts, |ctx| {
        let files = prepared
            .files
            .get(&ctx.node().name)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        ops::apply(ctx, &self::ops(&cluster, files))
    });
    let failed: Vec<_> = step.failures().collect();
    if !failed.is_empty() {
        println!("failed!");
        for h in failed {
            eprintln!(
                "[ERROR {}] reset, host {}: {}",
                h.kind.unwrap_or("Failed"),
                h.host,
                h.message
            );
        }
        eprintln!("Fix the above, then run the reset again (what is already gone is skipped).");
        return Ok(ExitCode::from(1));
    }
    let changed = step
        .hosts
        .iter()
        .filter(|h| h.status == crate::exec::Status::Changed)
        .count();
    println!(
        "\nok={} changed={changed} (hosts); log: {}",
        step.hosts.len() - changed,
        engine
            .log
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    if engine.dry_run() {
        println!(
            "\nPlan: {} change(s); nothing was changed.",
            engine.planned().len()
        );
    } else {
        if let Some(kept) = records_aside(&opts.installer_dir)? {
            println!(
                "The installer's records of the old cluster are in {}",
                kept.display()
            );
        }
        println!("successsful!");
    }
    engine.close_all();
    Ok(ExitCode::SUCCESS)
}

/// `state/` and `kubesphere/` into `reset-<time>/`: the next install makes
/// new join secrets, the operator keeps the old kubeconfig to look at.
fn records_aside(installer_dir: &Path) -> anyhow::Result<Option<std::path::PathBuf>> {
    let present: Vec<&str> = ["state", "kubesphere"]
        .into_iter()
        .filter(|d| installer_dir.join(d).exists())
        .collect();
    if present.is_empty() {
        return Ok(None);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let kept = installer_dir.join(format!("reset-{stamp}"));
    std::fs::create_dir_all(&kept)?;
    for d in present {
        std::fs::rename(installer_dir.join(d), kept.join(d))?;
    }
    Ok(Some(kept))
}

/// Directories Kubernetes, the CNI plugins and the install fill at run time.
/// Those in EMPTIED are emptied instead (as mount points are).
const RUNTIME_DIRS: &[&str] = &[
    "/etc/kubernetes",
    "/var/lib/kubelet",
    "/etc/ssl/etcd",
    "/etc/cni/net.d",
    "/var/lib/cni",
    "/run/flannel",
    "/etc/calico",
    "/var/lib/calico",
    "/opt/cni",
    "/root/.kube",
    HOST_REPO_DIR,
    HOST_APT_STATE_DIR,
    // --serve-bundle's cache and relay.
    "/var/lib/ksinstall",
];

/// containerd watches the CNI config directory from its start: removed
/// and made again, it is not seen, and the next install's nodes stay
/// NotReady ("cni plugin not initialized") until containerd restarts.
const EMPTIED: &[&str] = &["/etc/cni/net.d"];

/// What the bundle puts in /usr/local/bin (the etcd link included).
const BINARIES: &[&str] = &["kubeadm", "kubelet", "kubectl", "crictl", "helm", "etcd"];

/// Links the network plugins and kube-proxy create.
const LINKS: &[&str] = &[
    "cni0",
    "flannel.1",
    "flannel-v6.1",
    "kube-ipvs0",
    "vxlan.calico",
    "tunl0",
    "nodelocaldns",
];

/// The operations that reset `node`, from the files rendered for it.
pub fn ops(c: &Cluster, files: &[HostFile]) -> Vec<Op> {
    // Services first, and etcd's data aside before kubeadm reset: without
    // a kubeadm config it takes etcd for a local one and empties its
    // default data directory (/var/lib/etcd).
    let mut ops = Vec::new();
    let has = |c: Component| files.iter().any(|f| f.component == c);
    let etcd = [
        (Component::EtcdBackup, "etcd-backup.timer"),
        (Component::EtcdUnit, "etcd"),
        (Component::Registry, "docker-registry"),
    ];
    let lb = LbService::ALL.map(|s| (Component::Lb(s), s.service()));
    for (component, service) in etcd.into_iter().chain(lb) {
        if has(component) {
            ops.push(service_stopped(service));
        }
    }
    if has(Component::EtcdUnit) {
        ops.push(etcd_data_aside(&c.config.text("etcd_data_dir")));
    }
    ops.push(kubeadm_reset(&c.config.kube_version));
    ops.push(Op::run_unless(
        "unmount the kubelet's volumes",
        "awk '$2 ~ \"^/var/lib/kubelet/\" {print $2}' /proc/mounts | sort -r | while read -r m; do umount \"$m\" || umount -l \"$m\"; done",
        "! awk '{print $2}' /proc/mounts | grep -q '^/var/lib/kubelet/'",
    ));
    ops.push(removed(&paths_to_remove(files)));
    ops.extend(files.iter().filter_map(|f| {
        let (begin, end) = f.block.as_ref()?;
        Some(block_removed(&f.path, begin, end))
    }));
    ops.push(network_cleared());
    ops.push(Op::on_change(
        "let systemd forget the removed units",
        "systemctl daemon-reload",
    ));
    ops
}

fn kubeadm_reset(v: &KubeVersion) -> Op {
    Op::run_unless(
        "stop the kubelet, kubeadm reset",
        &format!(
            "systemctl disable --now kubelet >/dev/null 2>&1; \
             if command -v kubeadm >/dev/null; then timeout -k 10s 180s {} || echo 'kubeadm reset failed; the files are removed below' >&2; fi; true",
            versions::kubeadm_reset(v)
        ),
        "! systemctl is-active --quiet kubelet && ! test -e /etc/kubernetes/kubelet.conf && ! test -e /etc/kubernetes/admin.conf",
    )
}

fn service_stopped(service: &str) -> Op {
    Op::run_unless(
        &format!("stop {service}"),
        &format!("systemctl disable --now {service} >/dev/null 2>&1; true"),
        &format!(
            "! systemctl is-active --quiet {service} && ! systemctl is-enabled --quiet {service}"
        ),
    )
}

/// etcd's data is the cluster's state: a mistaken reset must be undoable.
/// A mount point cannot move: its `member` directory (all etcd keeps)
/// moves out of it (kubeadm reset may empty the data directory).
fn etcd_data_aside(dir: &str) -> Op {
    let d = sh_quote(dir.trim_end_matches('/'));
    Op::run_unless(
        &format!("move the etcd data {dir} aside"),
        &format!(
            "t=$(date +%Y%m%d%H%M%S); if mountpoint -q {d}; then mkdir -p {d}.reset-$t && mv {d}/member {d}.reset-$t/ && echo etcd data kept in {d}.reset-$t; \
             else mv {d} {d}.reset-$t && echo etcd data kept in {d}.reset-$t; fi"
        ),
        &format!("! test -d {d}/member"),
    )
}

/// Every whole file rendered for the host but the merged runtime configs,
/// then the directories and binaries the install and Kubernetes fill.
fn paths_to_remove(files: &[HostFile]) -> Vec<String> {
    let mut paths: Vec<String> = files
        .iter()
        .filter(|f| f.block.is_none() && !f.merged)
        .map(|f| f.path.clone())
        .collect();
    paths.extend(RUNTIME_DIRS.iter().map(|d| d.to_string()));
    paths.extend(BINARIES.iter().map(|b| format!("/usr/local/bin/{b}")));
    // An RPM host's repository file names the repository removed above:
    // left behind, every later dnf call there would fail on it.
    paths.push(YUM_REPO_FILE.to_string());
    paths.sort();
    paths.dedup();
    paths
}

/// Removes each path; a mount point (an operator's disk for
/// /var/lib/kubelet, the lab's own) or a directory of EMPTIED is emptied.
fn removed(paths: &[String]) -> Op {
    let list = paths
        .iter()
        .map(|p| sh_quote(p))
        .collect::<Vec<_>>()
        .join(" ");
    let keep = EMPTIED.join(" ");
    let kept = format!("{{ mountpoint -q \"$p\" 2>/dev/null || case \" {keep} \" in *\" $p \"*) true;; *) false;; esac; }}");
    Op::run_unless(
        &format!("remove {} files and directories of the install", paths.len()),
        &format!(
            "for p in {list} ; do if {kept}; then \
             [ ! -d \"$p\" ] || find \"$p\" -mindepth 1 -maxdepth 1 -exec rm -rf -- {{}} + || exit 1; \
             else rm -rf -- \"$p\" || exit 1; fi; done"
        ),
        &format!(
            "for p in {list} ; do if {kept}; then [ -z \"$(ls -A \"$p\" 2>/dev/null)\" ] || exit 1; \
             elif test -e \"$p\" || test -L \"$p\"; then exit 1; fi; done"
        ),
    )
}

/// The block between the markers, markers included, out of a shared file
/// (written in place: /etc/hosts may be a bind mount).
fn block_removed(path: &str, begin: &str, end: &str) -> Op {
    let (p, b, e) = (sh_quote(path), sh_quote(begin), sh_quote(end));
    Op::run_unless(
        &format!("remove the install's block from {path}"),
        &format!(
            "awk -v b={b} -v e={e} '$0==b{{s=1}} !s{{print}} $0==e{{s=0}}' {p} >{p}.ksinstall-tmp && cat {p}.ksinstall-tmp >{p} && rm -f {p}.ksinstall-tmp"
        ),
        &format!("! grep -qxF -e {b} {p} 2>/dev/null"),
    )
}

/// The network plugin's links and kube-proxy's and the plugins' iptables
/// chains; the operator's own rules stay.
fn network_cleared() -> Op {
    let links = LINKS.join(" ");
    let ours = "-e KUBE- -e CNI- -e FLANNEL -e cali- -e cali:";
    Op::run_unless(
        "remove the pod network's links and iptables rules",
        &format!(
            "for l in {links}; do ip link delete \"$l\" 2>/dev/null; done; \
             for t in iptables ip6tables; do command -v $t-save >/dev/null || continue; \
             $t-save | grep -v {ours} | $t-restore || exit 1; done; true"
        ),
        &format!(
            "for l in {links}; do ip link show \"$l\" >/dev/null 2>&1 && exit 1; done; \
             for t in iptables ip6tables; do command -v $t-save >/dev/null || continue; \
             $t-save 2>/dev/null | grep -q {ours} && exit 1; done; exit 0"
        ),
    )
}
