//! `ksinstall certs renew`: new certificates before the old ones end, the
//! cluster serving throughout.
//!
//! etcd first, one member at a time: every leaf is issued again from the
//! existing CA (so members that still hold old leaves keep trusting the
//! restarted one) and pushed with the etcd phase's own operations, which
//! restart the member, await the new process and its health. Then the etcd client
//! certificates of the other nodes. Then the masters, one at a time:
//! `kubeadm certs renew all` (certificates and the kubeconfigs' client
//! certificates), the control-plane containers restarted so they load
//! them, and the API server's return awaited before the next master. Last,
//! the installer's `kubesphere/config` is fetched again. The kubelets'
//! client certificates rotate themselves.

use std::process::ExitCode;

use super::files::{self, Leaves};
use super::ops::Op;
use super::phases::{self, Inputs, Offline};
use super::run::{begin, facts_of_all, DayTwo, RunOptions};
use crate::model::{versions, Cluster, Role};

/// The operation that renews a master's kubeadm certificates and restarts
/// its control plane on them.
pub fn kubeadm_renew(c: &Cluster) -> Op {
    let renew = versions::kubeadm_certs_renew(&c.config.kube_version);
    Op::run(
        "renew the kubeadm certificates and restart the control plane on them",
        &format!(
            "set -e; {renew} --cert-dir {} >/dev/null; {}",
            crate::render::KUBE_CERT_DIR,
            control_plane_restart()
        ),
    )
}

/// Restarts a master's control-plane containers (the kubelet starts them
/// again, on the certificates and data they find now) and waits, bounded,
/// for a new API server to answer.
pub fn control_plane_restart() -> String {
    "old=$(crictl ps -q --name '^kube-apiserver$'); \
     for c in kube-apiserver kube-controller-manager kube-scheduler; do \
       ids=$(crictl ps -q --name \"^$c\\$\"); [ -z \"$ids\" ] || crictl stop $ids >/dev/null; done; \
     end=$(($(date +%s) + 180)); \
     while :; do new=$(crictl ps -q --state running --name '^kube-apiserver$'); \
       if [ -n \"$new\" ] && [ \"$new\" != \"$old\" ] && \
          kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw=/readyz >/dev/null 2>&1; then exit 0; fi; \
       if [ $(date +%s) -ge $end ]; then echo 'the API server did not come back within 180 s' >&2; \
         crictl ps -a --name kube-apiserver >&2; exit 1; fi; sleep 2; done"
        .to_string()
}

/// What a failed stage leaves.
const AFTER: &str =
    "The cluster runs on the certificates renewed so far. Fix the above and renew again.";

pub fn run(mut cluster: Cluster, opts: &RunOptions) -> anyhow::Result<ExitCode> {
    let (_lock, engine) = begin(&cluster, opts, "Renew")?;
    let facts = facts_of_all(&engine, &mut cluster, opts)?;
    let prepared = files::prepare_with(
        &engine,
        &cluster,
        &facts,
        &opts.installer_dir,
        &opts.conf_dir,
        Leaves::Renew,
    )?;
    let offline = Offline::default();
    let inp = Inputs {
        cluster: &cluster,
        facts: &facts,
        files: &prepared.files,
        offline: &offline,
    };
    let c = &cluster;
    let etcd = phases::ALL[phases::by_name("etcd").expect("a phase")];
    let members = etcd.hosts(c);
    let others: Vec<usize> = phases::cluster_hosts(c)
        .into_iter()
        .filter(|&i| {
            let n = &c.nodes[i];
            (n.has(Role::Master) || n.has(Role::Worker)) && !n.has(Role::Etcd)
        })
        .collect();
    let masters: Vec<usize> = (0..c.nodes.len())
        .filter(|&i| c.nodes[i].has(Role::Master))
        .collect();
    // (heading, hosts at once, operations of a host)
    type Ops<'a> = Box<dyn Fn(usize) -> Vec<Op> + Sync + 'a>;
    let mut stages: Vec<(String, Vec<usize>, Ops)> = Vec::new();
    for &i in &members {
        let node = &c.nodes[i];
        stages.push((
            format!("etcd member {} (new leaves, restart, health)", node.name),
            vec![i],
            Box::new(|i| etcd.ops(&c.nodes[i], &inp)),
        ));
    }
    if !others.is_empty() {
        stages.push((
            format!("etcd client certificates ({} hosts)", others.len()),
            others,
            Box::new(|i| phases::etcd_client_files(&c.nodes[i], &inp)),
        ));
    }
    for &i in &masters {
        stages.push((
            format!("kubeadm certificates on {}", c.nodes[i].name),
            vec![i],
            Box::new(|_| vec![kubeadm_renew(c)]),
        ));
    }
    let day_two = DayTwo::new(&engine, "renew", AFTER);
    for (what, hosts, ops_of) in &stages {
        if !day_two.stage(what, hosts, ops_of)? {
            return Ok(ExitCode::from(1));
        }
    }
    // The admin kubeconfig holds a renewed client certificate.
    let line = format!(
        "renewed: etcd leaves on {} member(s), kubeadm certificates on {} master(s)",
        members.len(),
        masters.len()
    );
    super::result::end_with_kubeconfig(&engine, c, opts, &line)
}
