//! `add-nodes`: the inventory's hosts that the cluster does not know yet,
//! and what of the install each host gets. The cluster decides what is new
//! (the nodes its API server knows), not a local file, so a lost `state/`
//! or a host added by hand cannot mislead it.
//!
//! As in the legacy `add-nodes.sh`, workers (`[kube-node]`) are added;
//! masters and etcd members too with `--control-plane`. No host may be
//! renamed or change its role. New hosts get every phase; the others get only what
//! must list the new ones: their `/etc/hosts` block, the members' etcd.env
//! (no restart) and every API server's etcd servers when a member is added,
//! every load balancer's list of masters when a master is,
//! and on the first master the join secrets renewed (a token lives 24
//! hours, the uploaded certificates two). New etcd members join one at a
//! time (`member add`, then start), so quorum is never short of more than
//! the one member starting.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::facts::Facts;
use super::ops::Op;
use super::phases::{HostFile, ETCD_SERVERS};
use crate::diag::{Diagnostic, Report};
use crate::exec::{Engine, HostFail};
use crate::model::{Cluster, Role};
use crate::render::Component;

/// Who is new, and so which phases and operations run where.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    /// The hosts that get every phase.
    pub new: BTreeSet<String>,
    /// etcd members to add, in inventory order: they join one at a time.
    new_etcd: Vec<String>,
    /// etcd's members change: what lists them is rewritten.
    members_change: bool,
    /// The masters change: every load balancer lists them.
    masters_change: bool,
    first_master: String,
}

/// What the API server says of its nodes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    pub nodes: BTreeSet<String>,
    /// Those with the control-plane (or, before 1.20, master) role label.
    pub masters: BTreeSet<String>,
}

impl Scope {
    /// Works out the scope from what the cluster knows: the nodes its API
    /// server lists, and (facts) the hosts holding etcd data. Pushes an
    /// error for what `add-nodes` cannot do.
    pub fn from_known(
        c: &Cluster,
        known: &Known,
        facts: &BTreeMap<String, Facts>,
        control_plane: bool,
        report: &mut Report,
    ) -> Scope {
        let first_master = c.first_master().map(|m| m.name.clone()).unwrap_or_default();
        let etcd_data = |name: &str| facts.get(name).is_some_and(|f| f.etcd_data);
        let mut new = BTreeSet::new();
        let mut new_etcd = Vec::new();
        for n in c.nodes.iter().filter(|n| super::phases::in_cluster(n)) {
            let k8s = n.has(Role::Master) || n.has(Role::Worker);
            if k8s
                && known.nodes.contains(&n.name)
                && n.has(Role::Master) != known.masters.contains(&n.name)
            {
                report.push(c.at_node(
                    Diagnostic::error(
                        "RoleChanged",
                        format!(
                            "'{}' is in the cluster as a {} but the inventory makes it a {}: add-nodes does not change a node's role. Put it back in its group, or take it out with remove-node and add it again",
                            n.name,
                            if known.masters.contains(&n.name) { "master" } else { "worker" },
                            if n.has(Role::Master) { "master" } else { "worker" },
                        ),
                    ),
                    n,
                ));
                continue;
            }
            // A host that becomes an etcd member gets every phase again
            // (each is idempotent): the etcd release comes with packages.
            let joins_etcd = n.has(Role::Etcd) && !etcd_data(&n.name);
            if joins_etcd {
                new_etcd.push(n.name.clone());
            }
            let is_new = (k8s && !known.nodes.contains(&n.name)) || joins_etcd;
            if is_new && !control_plane && (n.has(Role::Master) || n.has(Role::Etcd)) {
                report.push(c.at_node(
                    Diagnostic::error(
                        "OnlyWorkers",
                        format!(
                            "'{}' is not in the cluster yet and is in [kube-master] or [etcd]: add-nodes adds workers ([kube-node]) only, as the legacy installer did. Add it to [kube-node] alone, or run `ksinstall add-nodes --control-plane` (scripts/add-nodes.sh: KSINSTALL_ARGS=--control-plane) to add masters and etcd members",
                            n.name
                        ),
                    ),
                    n,
                ));
                new_etcd.retain(|m| *m != n.name);
                continue;
            }
            if is_new {
                new.insert(n.name.clone());
            }
        }
        let listed: BTreeSet<&str> = c.nodes.iter().map(|n| n.name.as_str()).collect();
        for gone in known.nodes.iter().filter(|k| !listed.contains(k.as_str())) {
            report.push(Diagnostic::error(
                "Renamed",
                format!(
                    "node '{gone}' is in the cluster but not in the inventory: hosts must never be renamed or dropped from it (add-nodes only adds). Put '{gone}' back as it was"
                ),
            ));
        }
        let masters_change = c
            .nodes
            .iter()
            .any(|n| n.has(Role::Master) && new.contains(&n.name));
        Scope {
            new,
            members_change: !new_etcd.is_empty(),
            new_etcd,
            masters_change,
            first_master,
        }
    }

    /// The hosts that stay when a master or an etcd member leaves
    /// (`remove-node`): nothing is new; what lists the members or the
    /// masters is rewritten, as when one is added.
    pub fn leaving(c: &Cluster, member: bool, master: bool) -> Scope {
        Scope {
            new: BTreeSet::new(),
            new_etcd: Vec::new(),
            members_change: member,
            masters_change: master,
            first_master: c.first_master().map(|m| m.name.clone()).unwrap_or_default(),
        }
    }

    /// Does `phase` run on `node` at all?
    pub fn runs(&self, phase: &str, node: &str) -> bool {
        self.new.contains(node)
            || match phase {
                "os" => true,
                "control-plane" => node == self.first_master || self.members_change,
                "loadbalancer" => self.masters_change,
                // What lists the etcd members: etcd's and calico's files,
                // the API servers, KubeSphere's configuration.
                "etcd" | "workers" | "network" | "kubesphere" => self.members_change,
                _ => false,
            }
    }

    /// The operations `node` gets of those the install would give it
    /// (`files`: the node's rendered files, which say what each file
    /// operation writes).
    pub fn ops(&self, phase: &str, node: &str, files: &[HostFile], ops: Vec<Op>) -> Vec<Op> {
        if self.new.contains(node) {
            return ops;
        }
        let only = |keep: &dyn Fn(&Op) -> bool| ops.iter().filter(|o| keep(o)).cloned().collect();
        let file_of = |o: &Op, components: &[Component]| {
            let path = match o {
                Op::File { path, .. } | Op::Block { path, .. } => path,
                _ => return false,
            };
            (files.iter()).any(|f| &f.path == path && components.contains(&f.component))
        };
        match phase {
            // Their /etc/hosts block lists the new hosts.
            "os" => only(&|o| file_of(o, &[Component::Hosts])),
            // etcd.env lists every member: rewritten with no restart (etcd
            // reads the member list there only when it has no data), so a
            // later install finds it as rendered and restarts nothing.
            "etcd" => only(&|o| file_of(o, &[Component::EtcdEnv])),
            // Other masters: their API server on every member; calico's
            // configuration names the members too.
            // The first master renews the join secrets, and stores the
            // etcd members in kubeadm's configuration.
            "control-plane" if node == self.first_master => ops,
            "control-plane" => only(&|o| {
                matches!(o, Op::Command { describe, .. } if describe == ETCD_SERVERS)
                    || file_of(o, &[Component::Calico])
            }),
            "workers" => only(&|o| file_of(o, &[Component::Calico])),
            _ => ops,
        }
    }

    /// The hosts of `phase` in the order they run: together, except that
    /// etcd members join one at a time after the existing members, and
    /// new masters join after the first master renewed the join secrets
    /// (the uploaded certificates live two hours).
    pub fn batches(&self, phase: &str, hosts: Vec<usize>, c: &Cluster) -> Vec<Vec<usize>> {
        let name = |i: &usize| c.nodes[*i].name.as_str();
        let mut out: Vec<Vec<usize>> = match phase {
            "etcd" => {
                let (joining, rest): (Vec<usize>, Vec<usize>) = hosts
                    .into_iter()
                    .partition(|i| self.new_etcd.iter().any(|n| n == name(i)));
                std::iter::once(rest)
                    .chain(joining.into_iter().map(|i| vec![i]))
                    .collect()
            }
            "control-plane" => {
                let (first, rest) = hosts
                    .into_iter()
                    .partition(|i| name(i) == self.first_master);
                vec![first, rest]
            }
            _ => vec![hosts],
        };
        out.retain(|b| !b.is_empty());
        out
    }
}

/// The names of the nodes the API server knows, asked on the first master;
/// `None` (with an error pushed) when there is no cluster to add to.
pub fn known_nodes(engine: &Engine, c: &Cluster, report: &mut Report) -> Option<Known> {
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
        // Two lines: every node's name, then the masters' (either label).
        let out = ctx.query(
            "test -f /etc/kubernetes/admin.conf || { echo 'no /etc/kubernetes/admin.conf' >&2; exit 3; }; \
             k='kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o jsonpath={.items[*].metadata.name}'; \
             $k && echo && { $k -l node-role.kubernetes.io/control-plane; echo; $k -l node-role.kubernetes.io/master; } | tr '\\n' ' '",
            Some(std::time::Duration::from_secs(60)),
        )?;
        if out.rc != 0 {
            return Err(HostFail::Failed(out.stderr_text().trim().to_string()));
        }
        let text = out.stdout_text();
        let mut lines = text.lines();
        let words = |l: Option<&str>| -> BTreeSet<String> {
            l.unwrap_or("").split_whitespace().map(str::to_string).collect()
        };
        let set = Known {
            nodes: words(lines.next()),
            masters: words(lines.next()),
        };
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
