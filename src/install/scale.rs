//! `add-nodes`: the inventory's hosts that the cluster does not know yet,
//! and what of the install each host gets. The cluster decides what is new
//! (the nodes its API server knows), not a local file, so a lost `state/`
//! or a host added by hand cannot mislead it.
//!
//! As in the legacy `add-nodes.sh`, only workers (`[kube-node]`) can be
//! added and no host may be renamed. New hosts get every phase; the others
//! get only what must list the new ones: their `/etc/hosts` block, and on
//! the first master the join secrets renewed (a token lives 24 hours).

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::ops::Op;
use crate::diag::{Diagnostic, Report};
use crate::exec::{Engine, HostFail};
use crate::model::{Cluster, Role};

/// Who is new, and so which phases and operations run where.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub new: BTreeSet<String>,
    first_master: String,
}

impl Scope {
    /// Works out the scope from the node names the API server knows,
    /// pushing an error for what `add-nodes` cannot do.
    pub fn from_known(c: &Cluster, known: &BTreeSet<String>, report: &mut Report) -> Scope {
        let first_master = c.first_master().map(|m| m.name.clone()).unwrap_or_default();
        let mut new = BTreeSet::new();
        for n in c.nodes.iter().filter(|n| super::phases::in_cluster(n)) {
            if known.contains(&n.name) {
                continue;
            }
            if n.has(Role::Master) || n.has(Role::Etcd) {
                report.push(c.at_node(
                    Diagnostic::error(
                        "OnlyWorkers",
                        format!(
                            "'{}' is not in the cluster yet and is in [kube-master] or [etcd]: add-nodes adds workers ([kube-node]) only, as the legacy installer did. Add it to [kube-node] alone",
                            n.name
                        ),
                    ),
                    n,
                ));
            } else {
                new.insert(n.name.clone());
            }
        }
        let listed: BTreeSet<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
        for gone in known.iter().filter(|k| !listed.contains(k.as_str())) {
            report.push(Diagnostic::error(
                "Renamed",
                format!(
                    "node '{gone}' is in the cluster but not in the inventory: hosts must never be renamed or dropped from it (add-nodes only adds). Put '{gone}' back as it was"
                ),
            ));
        }
        Scope { new, first_master }
    }

    /// Does `phase` run on `node` at all?
    pub fn runs(&self, phase: &str, node: &str) -> bool {
        self.new.contains(node)
            || phase == "os"
            || (phase == "control-plane" && node == self.first_master)
    }

    /// The operations `node` gets of those the install would give it.
    pub fn ops(&self, phase: &str, node: &str, ops: Vec<Op>) -> Vec<Op> {
        if self.new.contains(node) || phase != "os" {
            return ops;
        }
        ops.into_iter()
            .filter(|o| matches!(o, Op::Block { path, .. } if path == "/etc/hosts"))
            .collect()
    }
}

/// The names of the nodes the API server knows, asked on the first master;
/// `None` (with an error pushed) when there is no cluster to add to.
pub fn known_nodes(engine: &Engine, c: &Cluster, report: &mut Report) -> Option<BTreeSet<String>> {
    let Some(first) = c.first_master() else {
        report.push(Diagnostic::error(
            "NoMaster",
            "no [kube-master] host in the inventory",
        ));
        return None;
    };
    let idx = c.nodes.iter().position(|n| n.name == first.name)?;
    let names = Mutex::new(None);
    let step = engine.step("cluster nodes", &[idx], |ctx| {
        let out = ctx.query(
            "test -f /etc/kubernetes/admin.conf || { echo 'no /etc/kubernetes/admin.conf' >&2; exit 3; }; \
             kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o jsonpath='{.items[*].metadata.name}'",
            Some(std::time::Duration::from_secs(60)),
        )?;
        if out.rc != 0 {
            return Err(HostFail::Failed(out.stderr_text().trim().to_string()));
        }
        let set = out.stdout_text().split_whitespace().map(str::to_string).collect();
        *names.lock().expect("no panics hold this lock") = Some(set);
        Ok(())
    });
    for h in step.failures() {
        report.push(c.at_node(
            Diagnostic::error(
                "NoCluster",
                format!(
                    "cannot list the cluster's nodes on the first master '{}': {}. add-nodes adds to an installed cluster: run the install first",
                    h.host, h.message
                ),
            ),
            first,
        ));
    }
    names.into_inner().expect("no panics hold this lock")
}
