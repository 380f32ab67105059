//! Stop-gap: nodes straight from an inventory, for the `run` and `copy`
//! verbs, until `model::Cluster` provides them. Kept deliberately small.

use std::path::PathBuf;

use crate::inventory::{Inventory, Vars};
use crate::model::{Become, Connection, Node, Secret, SshTarget};

fn text(vars: &Vars, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| vars.get(k))
        .map(|v| v.value.to_text())
}

fn target(inv: &Inventory, h: usize) -> SshTarget {
    let v = inv.host_vars(h);
    SshTarget {
        address: text(&v, &["ansible_host", "ansible_ssh_host"])
            .unwrap_or_else(|| inv.hosts[h].name.clone()),
        port: text(&v, &["ansible_port", "ansible_ssh_port"])
            .and_then(|p| p.parse().ok())
            .unwrap_or(22),
        user: text(&v, &["ansible_user", "ansible_ssh_user"]).unwrap_or_else(|| "root".to_string()),
        password: text(&v, &["ansible_ssh_pass", "ansible_password"]).map(Secret::new),
        key_file: text(
            &v,
            &["ansible_ssh_private_key_file", "ansible_private_key_file"],
        )
        .map(PathBuf::from),
        bastion: None,
    }
}

/// The node for inventory host `h`. `force_become` is `-b`; without it a
/// host becomes root only with `ansible_become=true`. The bastion is the
/// first host of a `bastion` group, as in Kubespray inventories.
pub fn node_from_inventory(inv: &Inventory, h: usize, force_become: bool) -> Node {
    let v = inv.host_vars(h);
    let bastion = inv
        .hosts_named("bastion")
        .first()
        .copied()
        .filter(|&b| b != h);
    let connection = if text(&v, &["ansible_connection"]).as_deref() == Some("local") {
        Connection::Local
    } else {
        let mut t = target(inv, h);
        t.bastion = bastion.map(|b| Box::new(target(inv, b)));
        Connection::Ssh(t)
    };
    let login_user = match &connection {
        Connection::Ssh(t) => t.user.clone(),
        Connection::Local => super::engine::local_user(),
    };
    let wants_become = force_become || v.get("ansible_become").is_some_and(|x| x.value.truthy());
    let become_user = text(&v, &["ansible_become_user"]).unwrap_or_else(|| "root".to_string());
    let become_ = (wants_become && become_user != login_user).then(|| Become {
        user: become_user,
        password: text(&v, &["ansible_become_pass", "ansible_become_password"]).map(Secret::new),
    });
    Node {
        name: inv.hosts[h].name.clone(),
        connection,
        become_,
        ip: text(&v, &["ip"]),
        access_ip: text(&v, &["access_ip"]),
        roles: Vec::new(),
        line: Some(inv.hosts[h].line),
    }
}

/// Hosts of `group` (default `all`), limited to `limit` (comma-separated
/// host or group names) when given. Unknown names are errors.
pub fn select(
    inv: &Inventory,
    group: Option<&str>,
    limit: Option<&str>,
) -> Result<Vec<usize>, String> {
    let group = group.unwrap_or("all");
    if inv.group(group).is_none() {
        if inv.host(group).is_some() {
            return Ok(vec![inv.host_id(group).unwrap()]);
        }
        return Err(format!(
            "no group or host {group:?} in {}",
            inv.path.display()
        ));
    }
    let mut hosts = inv.hosts_named(group);
    if let Some(limit) = limit {
        let mut keep = Vec::new();
        for name in limit.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(h) = inv.host_id(name) {
                keep.push(h);
            } else if inv.group(name).is_some() {
                keep.extend(inv.hosts_named(name));
            } else {
                return Err(format!(
                    "no host or group {name:?} in {}",
                    inv.path.display()
                ));
            }
        }
        hosts.retain(|h| keep.contains(h));
    }
    Ok(hosts)
}
