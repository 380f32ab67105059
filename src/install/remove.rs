//! `remove-node NAME...`: workers leave the cluster one at a time. Each is
//! drained from the first master (pods a controller manages start
//! elsewhere; `--force` also deletes pods no controller manages, which are
//! then lost), reset as `reset` resets a host, and deleted from the API
//! server. A host that cannot be reached is only deleted from the cluster,
//! and only with `--force` (what is on its disk stays there).
//!
//! Masters and etcd members are refused: taking one away safely needs an
//! etcd `member remove` that keeps quorum and the load balancers' configs
//! rewritten, which this does not do yet.

use std::collections::BTreeSet;
use std::process::ExitCode;

use super::ops::{self, Op};
use super::run::{begin, fill_ips, gather_facts, RunOptions};
use crate::diag::{Diagnostic, Invalid, Report};
use crate::exec::shell::sh_quote;
use crate::model::{Cluster, Role};

const KUBECTL: &str = "kubectl --kubeconfig /etc/kubernetes/admin.conf";

/// The inventory indices of `names`, or errors for what cannot be removed.
pub fn targets(c: &Cluster, names: &[String], report: &mut Report) -> Vec<usize> {
    let mut found = Vec::new();
    for name in names {
        match c.nodes.iter().position(|n| &n.name == name) {
            None => report.push(Diagnostic::error(
                "UnknownNode",
                format!("'{name}' is not in the inventory: remove-node takes the names of hosts.ini"),
            )),
            Some(i) if c.nodes[i].has(Role::Master) || c.nodes[i].has(Role::Etcd) => {
                report.push(c.at_node(
                    Diagnostic::error(
                        "RemoveMaster",
                        format!("'{name}' is a master or an etcd member: remove-node removes workers only (etcd quorum and the load balancers are not rewritten yet)"),
                    ),
                    &c.nodes[i],
                ))
            }
            Some(i) => found.push(i),
        }
    }
    found
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
        let name = cluster.nodes[t].name.clone();
        let is_down = down.contains(&name);
        println!(
            "== remove-node: {name}{}",
            if is_down {
                " (down: deleted from the cluster only)"
            } else {
                ""
            }
        );
        let mut steps: Vec<(usize, Vec<Op>)> = Vec::new();
        if !is_down {
            steps.push((master, vec![drained(&name, force)]));
            let files = prepared.files.get(&name).map(Vec::as_slice).unwrap_or(&[]);
            steps.push((t, super::reset::ops(&cluster, files)));
        }
        steps.push((master, vec![deleted(&name)]));
        for (host, list) in steps {
            let step = engine.step("remove-node", &[host], |ctx| ops::apply(ctx, &list));
            let failed = step.failures().next().cloned();
            if let Some(h) = failed {
                println!("failed!");
                eprintln!(
                    "[ERROR {}] remove-node {name}, host {}: {}",
                    h.kind.unwrap_or("Failed"),
                    h.host,
                    h.message
                );
                eprintln!("Fix the above, then run remove-node again (what is done is skipped).");
                return Ok(ExitCode::from(1));
            }
        }
    }
    engine.close_all();
    let gone: Vec<String> = leaving.into_iter().collect();
    println!(
        "successsful!\nRemoved {}. Delete them from hosts.ini, or keep them there to add them back with add-nodes.",
        gone.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}
