//! The whole cluster: its nodes with their roles and how to reach them, and
//! the configuration. Built from hosts.ini (or a KubeKey file) + conf/.

use std::path::PathBuf;

use super::node::{Become, Connection, Node, Role, Secret, SshTarget};
use crate::config::kubekey::KkFile;
use crate::config::Config;
use crate::diag::{Diagnostic, Report};
use crate::inventory::{Inventory, Value, Vars};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One machine, the one running the installer (node `ks-allinone`).
    AllInOne,
    MultiNode,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub mode: Mode,
    pub nodes: Vec<Node>,
    /// The `bastion` jump host, when the inventory names one.
    pub bastion: Option<SshTarget>,
    pub config: Config,
    /// hosts.ini or config-sample.yaml; `None` in all-in-one mode.
    pub inventory_path: Option<PathBuf>,
}

/// Group names and the role each stands for; the underscored names are
/// Kubespray ≥ 2.16's spellings of the same groups.
pub const ROLE_GROUPS: &[(&str, Role)] = &[
    ("kube-master", Role::Master),
    ("kube_control_plane", Role::Master),
    ("kube-node", Role::Worker),
    ("kube_node", Role::Worker),
    ("etcd", Role::Etcd),
    ("local-registry", Role::LocalRegistry),
    ("local_registry", Role::LocalRegistry),
    ("calico-rr", Role::CalicoRr),
    ("calico_rr", Role::CalicoRr),
    ("bastion", Role::Bastion),
];

/// The node name legacy tooling recognises an all-in-one install by.
pub const ALL_IN_ONE_NAME: &str = "ks-allinone";

impl Cluster {
    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.has(role))
    }

    pub fn masters(&self) -> Vec<&Node> {
        self.with_role(Role::Master).collect()
    }

    pub fn workers(&self) -> Vec<&Node> {
        self.with_role(Role::Worker).collect()
    }

    /// Every member's client URL, in `[etcd]` order: what the API servers
    /// and kubeadm's ClusterConfiguration name (as the render lists them).
    pub fn etcd_endpoints(&self) -> Vec<String> {
        self.etcd()
            .iter()
            .filter_map(|n| n.etcd_url(super::node::ETCD_CLIENT))
            .collect()
    }

    pub fn etcd(&self) -> Vec<&Node> {
        self.with_role(Role::Etcd).collect()
    }

    pub fn first_master(&self) -> Option<&Node> {
        self.with_role(Role::Master).next()
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// A diagnostic pinned to the node's line in the inventory, when known.
    pub fn at_node(&self, d: Diagnostic, node: &Node) -> Diagnostic {
        let d = d.on_host(&node.name);
        match &self.inventory_path {
            Some(p) => d.at(p, node.line),
            None => d,
        }
    }

    pub fn all_in_one(config: Config) -> Cluster {
        Cluster {
            mode: Mode::AllInOne,
            nodes: vec![Node {
                name: ALL_IN_ONE_NAME.to_string(),
                connection: Connection::Local,
                become_: None,
                ip: None,
                access_ip: None,
                roles: vec![Role::Master, Role::Worker, Role::Etcd],
                line: None,
            }],
            bastion: None,
            config,
            inventory_path: None,
        }
    }

    pub fn from_inventory(inv: &Inventory, config: Config, report: &mut Report) -> Cluster {
        // Each role group's members once, not once per host.
        let members: Vec<(std::collections::BTreeSet<usize>, Role)> = ROLE_GROUPS
            .iter()
            .map(|(g, r)| (inv.hosts_named(g).into_iter().collect(), *r))
            .collect();
        let roles_of = |h: usize| -> Vec<Role> {
            let mut roles: Vec<Role> = members
                .iter()
                .filter(|(m, _)| m.contains(&h))
                .map(|(_, r)| *r)
                .collect();
            if inv.hosts[h].name == "bastion" && !roles.contains(&Role::Bastion) {
                roles.push(Role::Bastion);
            }
            roles.sort();
            roles.dedup();
            roles
        };
        let mut nodes = Vec::new();
        let mut bastion = None;
        for h in 0..inv.hosts.len() {
            let vars = inv.host_vars(h);
            let name = inv.hosts[h].name.clone();
            let line = Some(inv.hosts[h].line);
            let roles = roles_of(h);
            let diag_at = |d: Diagnostic| d.at(&inv.path, line);
            let node = node_from_vars(&name, &vars, roles, line, &mut |d| report.push(diag_at(d)));
            if node.has(Role::Bastion) {
                match &node.connection {
                    Connection::Ssh(t) if bastion.is_none() => bastion = Some(t.clone()),
                    Connection::Ssh(_) => report.push(diag_at(Diagnostic::warning(
                        "Bastion",
                        format!("'{name}': only one bastion is used; the first one wins"),
                    ))),
                    Connection::Local => report.push(diag_at(Diagnostic::error(
                        "Bastion",
                        format!("'{name}': a bastion must be reached over SSH, not ansible_connection=local"),
                    ))),
                }
                continue;
            }
            nodes.push(node);
        }
        if let Some(b) = &bastion {
            for n in &mut nodes {
                if let Connection::Ssh(t) = &mut n.connection {
                    t.bastion = Some(Box::new(b.clone()));
                }
            }
        }
        Cluster {
            mode: Mode::MultiNode,
            nodes,
            bastion,
            config,
            inventory_path: Some(inv.path.clone()),
        }
    }

    pub fn from_kubekey(path: PathBuf, kk: &KkFile, config: Config) -> Cluster {
        let nodes = kk
            .hosts
            .iter()
            .map(|h| {
                let mut roles: Vec<Role> = kk
                    .role_groups
                    .iter()
                    .filter(|(_, names)| names.contains(&h.name))
                    .filter_map(|(g, _)| match g.as_str() {
                        "master" | "control-plane" | "controlPlane" => Some(Role::Master),
                        "worker" => Some(Role::Worker),
                        "etcd" => Some(Role::Etcd),
                        "registry" => Some(Role::LocalRegistry),
                        _ => None,
                    })
                    .collect();
                roles.sort();
                roles.dedup();
                let user = h.user.clone().unwrap_or_else(|| "root".into());
                let password = h.password.clone().map(Secret::new);
                Node {
                    name: h.name.clone(),
                    become_: (user != "root").then(|| Become {
                        user: "root".into(),
                        password: password.clone(),
                    }),
                    connection: Connection::Ssh(SshTarget {
                        address: h.address.clone(),
                        port: h.port.unwrap_or(22),
                        user,
                        password,
                        key_file: h.private_key_path.clone().map(PathBuf::from),
                        bastion: None,
                    }),
                    ip: h.internal_address.clone(),
                    access_ip: None,
                    roles,
                    line: h.line,
                }
            })
            .collect();
        Cluster {
            mode: Mode::MultiNode,
            nodes,
            bastion: None,
            config,
            inventory_path: Some(path),
        }
    }
}

/// Spellings of the sudo password and user, newest first.
pub const BECOME_PASS_VARS: &[&str] = &[
    "ansible_become_pass",
    "ansible_become_password",
    "ansible_sudo_pass",
];
pub const BECOME_USER_VARS: &[&str] = &["ansible_become_user", "ansible_sudo_user"];

/// The first of several variable spellings that is set, as text.
pub fn var_text(vars: &Vars, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| vars.get(n))
        .map(|v| v.value.to_text())
        .filter(|s| !s.is_empty())
}

/// A node from one host's merged inventory variables (all the connection
/// variable spellings Ansible knows); problems go to `report`.
pub fn node_from_vars(
    name: &str,
    vars: &Vars,
    roles: Vec<Role>,
    line: Option<usize>,
    report: &mut dyn FnMut(Diagnostic),
) -> Node {
    let local = var_text(vars, &["ansible_connection"]).as_deref() == Some("local");
    let user =
        var_text(vars, &["ansible_user", "ansible_ssh_user"]).unwrap_or_else(|| "root".into());
    let become_pass = var_text(vars, BECOME_PASS_VARS);
    let become_user = var_text(vars, BECOME_USER_VARS).unwrap_or_else(|| "root".into());
    let port = match vars
        .get("ansible_port")
        .or_else(|| vars.get("ansible_ssh_port"))
    {
        None => 22,
        Some(v) => match v.value.to_text().trim().parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                report(Diagnostic::error(
                    "HostPort",
                    format!(
                        "'{name}': ansible_port {:?} is not a port number (1-65535)",
                        v.value.to_text()
                    ),
                ));
                22
            }
        },
    };
    if let Some(v) = vars.get("ansible_become") {
        if matches!(v.value, Value::Str(_))
            && !v.value.truthy()
            && !is_false_word(&v.value.to_text())
        {
            report(Diagnostic::warning(
                "HostVar",
                format!("'{name}': ansible_become={:?} is neither true nor false; every step runs with sudo anyway", v.value.to_text()),
            ));
        }
    }
    let connection = if local {
        Connection::Local
    } else {
        Connection::Ssh(SshTarget {
            address: var_text(vars, &["ansible_host", "ansible_ssh_host"])
                .unwrap_or_else(|| name.to_string()),
            port,
            user: user.clone(),
            password: var_text(
                vars,
                &[
                    "ansible_ssh_pass",
                    "ansible_password",
                    "ansible_ssh_password",
                ],
            )
            .map(Secret::new),
            key_file: var_text(
                vars,
                &["ansible_ssh_private_key_file", "ansible_private_key_file"],
            )
            .map(PathBuf::from),
            bastion: None,
        })
    };
    // Every legacy playbook ran with `-b`: a non-root login always escalates.
    let become_ = (!local && user != "root").then(|| Become {
        user: become_user,
        password: become_pass.map(Secret::new),
    });
    Node {
        name: name.to_string(),
        connection,
        become_,
        ip: var_text(vars, &["ip"]),
        access_ip: var_text(vars, &["access_ip"]),
        roles,
        line,
    }
}

fn is_false_word(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "no" | "off" | "0" | "false" | "n" | "f"
    )
}
