//! Nodes for the ad-hoc verbs `run` and `copy`, straight from an inventory:
//! the connection comes from the model's reading of the host variables; only
//! privilege escalation follows Ansible's ad-hoc rule (`-b`, or
//! `ansible_become=true`) instead of the installer's (always, for non-root).

use crate::inventory::Inventory;
use crate::model::cluster::{node_from_vars, var_text, BECOME_PASS_VARS, BECOME_USER_VARS};
use crate::model::{Become, Connection, Node, Secret};

/// The node for inventory host `h`. `force_become` is `-b`. The bastion is
/// the first host of a `bastion` group, as in Kubespray inventories.
pub fn node_from_inventory(inv: &Inventory, h: usize, force_become: bool) -> Node {
    let read = |h: usize| {
        let vars = inv.host_vars(h);
        let node = node_from_vars(
            &inv.hosts[h].name,
            &vars,
            Vec::new(),
            Some(inv.hosts[h].line),
            &mut |_| {},
        );
        (node, vars)
    };
    let (mut node, vars) = read(h);
    let bastion = inv
        .hosts_named("bastion")
        .first()
        .copied()
        .filter(|&b| b != h);
    if let (Connection::Ssh(t), Some(b)) = (&mut node.connection, bastion) {
        if let Connection::Ssh(bt) = read(b).0.connection {
            t.bastion = Some(Box::new(bt));
        }
    }
    let login_user = match &node.connection {
        Connection::Ssh(t) => t.user.clone(),
        Connection::Local => super::engine::local_user(),
    };
    let wants_become = force_become || vars.get("ansible_become").is_some_and(|x| x.value.truthy());
    let become_user = var_text(&vars, BECOME_USER_VARS).unwrap_or_else(|| "root".to_string());
    node.become_ = (wants_become && become_user != login_user).then(|| Become {
        user: become_user,
        password: var_text(&vars, BECOME_PASS_VARS).map(Secret::new),
    });
    node
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
