//! `ksinstall etcd restore FILE`: the cluster back to a snapshot.
//!
//! As etcd's own procedure asks: the same snapshot restored on every
//! member into a fresh data directory, each under its own name and the
//! cluster's member list (read from the member's `/etc/etcd.env`, the file
//! the install rendered), then all started together. Nothing is stopped
//! before the snapshot has been copied to every member and checked there;
//! the data each member held is moved aside (`<data dir>.restore-<time>`),
//! never deleted. Last, each master's control plane and every kubelet are
//! restarted so they read the restored data rather than their cache of the
//! old.

use std::path::Path;
use std::process::ExitCode;

use super::ops::{self, Op};
use super::phases::{self, Inputs, Offline};
use super::renew::control_plane_restart;
use super::run::{begin, DayTwo, RunOptions};
use crate::exec::Blob;
use crate::model::{versions, Cluster, Role};

/// What a failed stage leaves.
const AFTER: &str = "Each member's data before the restore is beside its data directory (.restore-<time>). Fix the above and restore again.";

/// Where the snapshot waits on each member (0600: it holds every Secret).
const REMOTE: &str = "/var/tmp/ksinstall-restore.db";

/// etcd's snapshot tool: `etcdutl` from 3.5 (the release tarball has it),
/// `etcdctl` before (Debian's etcd-client).
fn tool(c: &Cluster) -> &'static str {
    match versions::etcd_from_release(&c.config.etcd_version) {
        true => "etcdutl",
        false => "ETCDCTL_API=3 etcdctl",
    }
}

/// A restored store's revisions start below what every watcher has seen,
/// so a kubelet would miss new pods until they caught up: etcdutl moves
/// the revision far ahead and marks it compacted (watchers must re-list),
/// as Kubernetes' own restore guide asks. etcdctl 3.4 cannot; the kubelets'
/// restart after the restore is what makes them re-list there.
fn bump(c: &Cluster) -> &'static str {
    match versions::etcd_from_release(&c.config.etcd_version) {
        true => " --bump-revision 1000000000 --mark-compacted",
        false => "",
    }
}

/// The member's copy of the snapshot gone (after a failed stage; a
/// restore removes it itself).
pub fn copy_removed() -> Op {
    Op::run_unless(
        "remove the snapshot copy",
        &format!("rm -f {REMOTE}"),
        &format!("test ! -e {REMOTE}"),
    )
}

/// A member's operations, in the order of the stages.
pub fn snapshot_checked(c: &Cluster) -> Op {
    Op::check(
        "the snapshot is whole",
        &format!("{} snapshot status {REMOTE} >/dev/null", tool(c)),
    )
}

pub fn restored(c: &Cluster) -> Op {
    Op::run(
        "restore the snapshot into a fresh data directory",
        &format!(
            "set -e; set -a; . /etc/etcd.env; set +a; \
             aside=\"$ETCD_DATA_DIR.restore-$(date +%Y%m%d%H%M%S)\"; \
             if [ -e \"$ETCD_DATA_DIR\" ]; then mv \"$ETCD_DATA_DIR\" \"$aside\"; echo \"moved aside: $aside\"; fi; \
             {} snapshot restore {REMOTE} --name \"$ETCD_NAME\" --initial-cluster \"$ETCD_INITIAL_CLUSTER\" \
             --initial-cluster-token \"$ETCD_INITIAL_CLUSTER_TOKEN\" \
             --initial-advertise-peer-urls \"$ETCD_INITIAL_ADVERTISE_PEER_URLS\" --data-dir \"$ETCD_DATA_DIR\"{} >/dev/null; \
             chmod 700 \"$ETCD_DATA_DIR\"; rm -f {REMOTE}",
            tool(c),
            bump(c)
        ),
    )
}

pub fn run(cluster: Cluster, opts: &RunOptions, file: &Path) -> anyhow::Result<ExitCode> {
    // Streamed to each member from disk, never held here (a snapshot is as
    // large as the cluster's data).
    let snapshot = Blob::file(file)
        .map_err(|e| anyhow::anyhow!("cannot read the snapshot {}: {e}", file.display()))?;
    let c = &cluster;
    let members: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(Role::Etcd))
        .collect();
    anyhow::ensure!(!members.is_empty(), "no [etcd] host in the inventory");
    let masters: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(Role::Master))
        .collect();
    let (_lock, engine) = begin(c, opts, "Restore")?;
    // The health wait of the etcd phase (its other operations need files).
    let (facts, files, offline) = (Default::default(), Default::default(), Offline::default());
    let inp = Inputs {
        cluster: c,
        facts: &facts,
        files: &files,
        offline: &offline,
    };
    let etcd = phases::ALL[phases::by_name("etcd").expect("a phase")];
    let healthy = |i: usize| -> Vec<Op> {
        etcd.ops(&c.nodes[i], &inp)
            .into_iter()
            .filter(|o| matches!(o, Op::Check { describe, .. } if describe == phases::ETCD_HEALTHY))
            .collect()
    };
    let n = members.len();
    let on = format!("{n} host{}", if n == 1 { "" } else { "s" });
    type Ops<'a> = Box<dyn Fn(usize) -> Vec<Op> + Sync + 'a>;
    let stages: Vec<(String, &[usize], Ops)> = vec![
        (
            format!("the snapshot to each member, checked ({on})"),
            &members,
            Box::new(|_| {
                vec![
                    Op::file(REMOTE, snapshot.clone(), 0o600),
                    snapshot_checked(c),
                ]
            }),
        ),
        (
            format!("etcd stopped ({on})"),
            &members,
            Box::new(|_| vec![Op::run("stop etcd", "systemctl stop etcd")]),
        ),
        (
            format!("the data restored, the old moved aside ({on})"),
            &members,
            Box::new(|_| vec![restored(c)]),
        ),
        (
            format!("etcd started ({on})"),
            &members,
            Box::new(|i| {
                let mut ops = vec![Op::run("start etcd", "systemctl start --no-block etcd")];
                ops.extend(healthy(i));
                ops
            }),
        ),
    ];
    let day_two = DayTwo::new(&engine, "restore", AFTER);
    for (what, hosts, ops_of) in &stages {
        if !day_two.stage(what, hosts, ops_of)? {
            // The copies hold every Secret of the cluster: none stays behind.
            engine.step("restore: the snapshot copies removed", &members, |ctx| {
                ops::apply(ctx, &[copy_removed()])
            });
            return Ok(ExitCode::from(1));
        }
    }
    for &m in &masters {
        let heading = format!("control plane restarted on {}", c.nodes[m].name);
        let restart: Ops = Box::new(|_| {
            vec![Op::run(
                "restart the control plane on the restored data",
                &control_plane_restart(),
            )]
        });
        if !day_two.stage(&heading, &[m], &restart)? {
            return Ok(ExitCode::from(1));
        }
    }
    // Every kubelet lists its pods afresh from the restored store.
    let k8s: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(Role::Master) || c.nodes[i].has(Role::Worker))
        .collect();
    let heading = format!("kubelets restarted ({} hosts)", k8s.len());
    let restart: Ops =
        Box::new(|_| vec![Op::run("restart the kubelet", "systemctl restart kubelet")]);
    if !day_two.stage(&heading, &k8s, &restart)? {
        return Ok(ExitCode::from(1));
    }
    engine.close_all();
    println!(
        "\nrestored {} on {n} etcd member(s); what each held before is beside its data directory (.restore-<time>); log: {}",
        file.display(),
        engine.log.path().map(|p| p.display().to_string()).unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}
