//! `remove-node NAME...`: nodes leave the cluster one at a time. Each is
//! drained from the first master (pods a controller manages start
//! elsewhere; `--force` also deletes pods no controller manages, which are
//! then lost), reset as `reset` resets a host, and deleted from the API
//! server. A host that cannot be reached is only deleted from the cluster,
//! and only with `--force` (what is on its disk stays there).
//!
//! A master or an etcd member (not the first master, which holds the
//! cluster's CA and join secrets) leaves too: first the hosts that stay
//! learn the layout without it (every API server's etcd servers, the
//! members' etcd.env, the load balancers' masters: `Scope::leaving`), then
//! etcd's `member remove`, refused when the members left could not keep a
//! quorum, then the host's reset.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

use super::facts::Facts;
use super::ops::{self, Op};
use super::phases::{self, Inputs, Offline};
use super::run::{begin, fill_ips, gather_facts, RunOptions};
use super::scale::Scope;
use crate::diag::{Diagnostic, Invalid, Report};
use crate::exec::shell::sh_quote;
use crate::exec::Engine;
use crate::model::node::{ETCD_CLIENT, ETCD_PEER};
use crate::model::{Cluster, Role};

const KUBECTL: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf";

/// The inventory indices of `names`, or errors for what cannot be removed.
pub fn targets(c: &Cluster, names: &[String], report: &mut Report) -> Vec<usize> {
    let first = c.first_master().map(|m| m.name.as_str());
    let members = c.nodes.iter().filter(|n| n.has(Role::Etcd)).count();
    let mut found = Vec::new();
    for name in names {
        match c.nodes.iter().position(|n| &n.name == name) {
            None => report.push(Diagnostic::error(
                "UnknownNode",
                format!("'{name}' is not in the inventory: remove-node takes the names of hosts.ini"),
            )),
            Some(i) if first == Some(name.as_str()) => report.push(c.at_node(
                Diagnostic::error(
                    "RemoveFirstMaster",
                    format!("'{name}' is the first master: it holds the cluster's CA and join secrets and runs the cluster's manifests, so it stays. Remove the other nodes you mean to"),
                ),
                &c.nodes[i],
            )),
            Some(i) if c.nodes[i].has(Role::Etcd) && members == 1 => report.push(c.at_node(
                Diagnostic::error(
                    "LastEtcdMember",
                    format!("'{name}' is the only etcd member: the cluster's data would go with it"),
                ),
                &c.nodes[i],
            )),
            Some(i) => found.push(i),
        }
    }
    found
}

/// Refused (before anything changes) when the members that stay could
/// not keep a quorum without `leaving`: more than half of them must answer.
pub fn quorum_kept(c: &Cluster, leaving: &str, admin: &str) -> Op {
    let stay: Vec<String> = c
        .nodes
        .iter()
        .filter(|n| n.has(Role::Etcd) && n.name != leaving)
        .filter_map(|n| n.etcd_url(ETCD_CLIENT))
        .collect();
    let need = stay.len() / 2 + 1;
    Op::check(
        &format!("the etcd members left keep a quorum without {leaving}"),
        &format!(
            "leaving={}; n=0; for e in {}; do {} --endpoints=\"$e\" endpoint health >/dev/null 2>&1 && n=$((n + 1)); done; \
             [ $n -ge {need} ] || {{ echo \"only $n of the {} etcd members that stay answer: without $leaving etcd would lose its quorum ({need} needed). Bring them back first\" >&2; exit 1; }}",
            sh_quote(leaving),
            stay.iter().map(|e| sh_quote(e)).collect::<Vec<_>>().join(" "),
            etcdctl(admin),
            stay.len()
        ),
    )
}

/// `member remove` of the member whose peer URL is `peer`, asked of the
/// member `admin` (its own client certificate); nothing when it is gone.
pub fn member_removed(leaving: &str, peer: &str, admin: &str) -> Op {
    let list = format!(
        "{} member list -w simple | awk -F', ' -v p={} '$4 == p {{print $1}}'",
        etcdctl(admin),
        sh_quote(peer)
    );
    Op::run_unless(
        &format!("remove {leaving} from etcd's members"),
        &format!(
            "id=$({list}); [ -z \"$id\" ] || {} member remove \"$id\"",
            etcdctl(admin)
        ),
        &format!("[ -z \"$({list})\" ]"),
    )
}

fn etcdctl(admin: &str) -> String {
    format!(
        "ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/ssl/etcd/ssl/ca.pem --cert={} --key={} --dial-timeout=5s --command-timeout=30s",
        sh_quote(&format!("/etc/ssl/etcd/ssl/admin-{admin}.pem")),
        sh_quote(&format!("/etc/ssl/etcd/ssl/admin-{admin}-key.pem"))
    )
}

/// Drains `node` from the first master; skipped once the node is gone.
pub fn drained(node: &str, force: bool) -> Op {
    let n = sh_quote(node);
    Op::run_unless(
        &format!("drain {node}"),
        &format!(
            "{KUBECTL} drain {n} --ignore-daemonsets --delete-emptydir-data --timeout=180s{} \
             || {{ echo 'pods no controller manages stop a drain: remove-node --force deletes them (they are lost)' >&2; exit 1; }}",
            if force { " --force" } else { "" }
        ),
        &format!("! {KUBECTL} get node {n} >/dev/null 2>&1"),
    )
}

/// Deletes the Node object; skipped once it is gone.
pub fn deleted(node: &str) -> Op {
    let n = sh_quote(node);
    Op::run_unless(
        &format!("delete node {node} from the cluster"),
        &format!("{KUBECTL} delete node {n} --ignore-not-found"),
        &format!("! {KUBECTL} get node {n} >/dev/null 2>&1"),
    )
}

/// The hosts that stay learn the layout without `t` (its roles taken away
/// in `rest`, so host indices stay those of the engine): the phases, each
/// narrowed by `Scope::leaving` to what lists the members or the masters.
fn relayout(
    engine: &Engine,
    rest: &Cluster,
    facts: &BTreeMap<String, Facts>,
    opts: &RunOptions,
    t: usize,
    was: &crate::model::Node,
) -> anyhow::Result<Result<(), String>> {
    let scope = Scope::leaving(rest, was.has(Role::Etcd), was.has(Role::Master));
    let prepared = super::files::prepare(engine, rest, facts, &opts.installer_dir, &opts.conf_dir)?;
    let offline = Offline::default();
    let inp = Inputs {
        cluster: rest,
        facts,
        files: &prepared.files,
        offline: &offline,
    };
    for phase in phases::ALL {
        let hosts: Vec<usize> = phase
            .hosts(rest)
            .into_iter()
            .filter(|&h| h != t && scope.runs(phase.name(), &rest.nodes[h].name))
            .collect();
        for batch in scope.batches(phase.name(), hosts, rest) {
            let heading = format!(
                "== {}: without {} ({} hosts)",
                phase.name(),
                was.name,
                batch.len()
            );
            let step = engine.step_headed(&heading, phase.name(), &batch, |ctx| {
                let node = ctx.node().clone();
                ops::apply(
                    ctx,
                    &scope.ops(
                        phase.name(),
                        &node.name,
                        inp.host_files(&node.name),
                        phase.ops(&node, &inp),
                    ),
                )
            });
            let failure = step
                .failures()
                .next()
                .map(|h| format!("{} on {}: {}", phase.name(), h.host, h.message));
            if let Some(m) = failure {
                return Ok(Err(m));
            }
        }
    }
    Ok(Ok(()))
}

/// Runs `list` on `host`; the failure, if any, as (host, kind, message).
fn on(engine: &Engine, host: usize, list: &[Op]) -> Option<(String, String)> {
    let step = engine.step("remove-node", &[host], |ctx| ops::apply(ctx, list));
    let failed = step.failures().next().cloned();
    failed.map(|h| {
        (
            h.host.clone(),
            format!("[ERROR {}] {}", h.kind.unwrap_or("Failed"), h.message),
        )
    })
}

pub fn run(
    mut cluster: Cluster,
    opts: &RunOptions,
    names: &[String],
    force: bool,
) -> anyhow::Result<ExitCode> {
    let mut report = Report::default();
    let targets = targets(&cluster, names, &mut report);
    let Some(first) = cluster.first_master().map(|m| m.name.clone()) else {
        anyhow::bail!("no [kube-master] host in the inventory");
    };
    if report.has_errors() {
        return Err(Invalid(report).into());
    }
    let (_lock, engine) = begin(&cluster, opts, "Remove")?;
    let facts = gather_facts(&engine, &mut report, &cluster);
    let leaving: BTreeSet<String> = targets
        .iter()
        .map(|&i| cluster.nodes[i].name.clone())
        .collect();
    let down: BTreeSet<String> = leaving
        .iter()
        .filter(|n| !facts.contains_key(*n))
        .cloned()
        .collect();
    // A leaving host that is down is no error with --force; the others
    // must answer (the first master above all).
    report
        .items
        .retain(|d| !(force && d.host.as_ref().is_some_and(|h| down.contains(h))));
    report.ignore(&opts.ignore_errors);
    if report.has_errors() {
        if !down.is_empty() && !force {
            eprintln!("A host that cannot be reached can only be deleted from the cluster, with --force (its disk is left as it is).");
        }
        return Err(Invalid(Report {
            items: report.errors().cloned().collect(),
        })
        .into());
    }
    fill_ips(&mut cluster, &facts);
    let members_before = cluster.nodes.iter().filter(|n| n.has(Role::Etcd)).count();
    let prepared = super::files::prepare(
        &engine,
        &cluster,
        &facts,
        &opts.installer_dir,
        &opts.conf_dir,
    )?;
    let master = cluster
        .nodes
        .iter()
        .position(|n| n.name == first)
        .expect("first master");
    for &t in &targets {
        let was = cluster.nodes[t].clone();
        let name = was.name.clone();
        let is_down = down.contains(&name);
        println!(
            "== remove-node: {name}{}",
            if is_down {
                " (down: deleted from the cluster only)"
            } else {
                ""
            }
        );
        let k8s = was.has(Role::Master) || was.has(Role::Worker);
        let member = was.has(Role::Etcd);
        // The etcd member that stays and speaks for the others.
        let admin = (0..cluster.nodes.len()).find(|&i| {
            i != t && cluster.nodes[i].has(Role::Etcd) && facts.contains_key(&cluster.nodes[i].name)
        });
        let failed = |(host, msg): (String, String)| -> anyhow::Result<ExitCode> {
            println!("failed!");
            eprintln!("{msg} (remove-node {name}, host {host})");
            eprintln!("Fix the above, then run remove-node again (what is done is skipped).");
            Ok(ExitCode::from(1))
        };
        if member {
            let Some(a) = admin else {
                return failed((
                    name.clone(),
                    "[ERROR EtcdUnreachable] no other etcd member answers".into(),
                ));
            };
            let admin_name = cluster.nodes[a].name.clone();
            if let Some(f) = on(&engine, a, &[quorum_kept(&cluster, &name, &admin_name)]) {
                return failed(f);
            }
        }
        if k8s && !is_down {
            if let Some(f) = on(&engine, master, &[drained(&name, force)]) {
                return failed(f);
            }
        }
        if member || was.has(Role::Master) {
            let mut rest = cluster.clone();
            rest.nodes[t].roles.clear();
            if let Err(m) = relayout(&engine, &rest, &facts, opts, t, &was)? {
                return failed((name.clone(), format!("[ERROR Relayout] {m}")));
            }
            cluster = rest;
        }
        if member {
            let a = admin.expect("checked above");
            let peer = was.etcd_url(ETCD_PEER).unwrap_or_default();
            let op = member_removed(&name, &peer, &cluster.nodes[a].name);
            if let Some(f) = on(&engine, a, &[op]) {
                return failed(f);
            }
        }
        if !is_down {
            let files = prepared.files.get(&name).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(f) = on(&engine, t, &super::reset::ops(&cluster, files)) {
                return failed(f);
            }
        }
        if k8s {
            if let Some(f) = on(&engine, master, &[deleted(&name)]) {
                return failed(f);
            }
        }
    }
    engine.close_all();
    let gone: Vec<String> = leaving.into_iter().collect();
    println!(
        "successsful!\nRemoved {}. Delete them from hosts.ini, or keep them there to add them back with add-nodes.",
        gone.join(", ")
    );
    let members = cluster.nodes.iter().filter(|n| n.has(Role::Etcd)).count();
    if members < members_before && members % 2 == 0 {
        println!("etcd now has {members} members, an even number: it tolerates no more failed members than {} would. `install` and `check` refuse such an inventory (EtcdOddCount); the verbs that act on the running cluster only warn. Add a member with `add-nodes --control-plane`, or remove another.", members - 1);
    }
    Ok(ExitCode::SUCCESS)
}
