//! `ansible-inventory --list` and `--graph`, reproduced so that users (and our
//! tests) can hold our reading of a hosts.ini against Ansible's, byte for byte.

use super::value::write_json_str;
use super::{Inventory, Value, ALL};

/// The JSON document of `ansible-inventory --list`, without `_meta.profile`.
pub fn list_json(inv: &Inventory) -> String {
    let mut groups: Vec<(String, Value)> = Vec::new();
    let mut seen = vec![false; inv.groups.len()];
    format_group(inv, ALL, &mut seen, &mut groups);

    let mut hostvars: Vec<(Value, Value)> = Vec::new();
    for h in inv.hosts_of(ALL) {
        let vars = inv.host_vars(h);
        if !vars.is_empty() {
            let dict = vars
                .0
                .iter()
                .map(|v| (Value::str(v.key.clone()), v.value.clone()))
                .collect();
            hostvars.push((Value::str(inv.hosts[h].name.clone()), Value::Dict(dict)));
        }
    }
    let mut top: Vec<(Value, Value)> = groups
        .into_iter()
        .map(|(k, v)| (Value::Str(k), v))
        .collect();
    top.push((
        Value::str("_meta"),
        Value::Dict(vec![(Value::str("hostvars"), Value::Dict(hostvars))]),
    ));
    let mut out = String::new();
    Value::Dict(top).write_json(&mut out, Some(4), 0);
    out
}

fn format_group(inv: &Inventory, g: usize, seen: &mut [bool], out: &mut Vec<(String, Value)>) {
    let group = &inv.groups[g];
    let mut entry: Vec<(Value, Value)> = Vec::new();
    // Reserve the slot first: Python inserts the group before its subgroups.
    let slot = out.len();
    out.push((group.name.clone(), Value::None));
    if g != ALL && !group.hosts.is_empty() {
        let hosts = group
            .hosts
            .iter()
            .map(|h| Value::str(inv.hosts[*h].name.clone()))
            .collect();
        entry.push((Value::str("hosts"), Value::List(hosts)));
    }
    let mut children = Vec::new();
    for &c in &group.children {
        children.push(Value::str(inv.groups[c].name.clone()));
        if !seen[c] {
            format_group(inv, c, seen, out);
            seen[c] = true;
        }
    }
    if !children.is_empty() {
        entry.push((Value::str("children"), Value::List(children)));
    }
    if entry.is_empty() {
        out.remove(slot);
    } else {
        out[slot].1 = Value::Dict(entry);
    }
}

/// `ansible-inventory --graph [GROUP]`.
pub fn graph(inv: &Inventory, start: &str) -> Option<String> {
    let g = inv.group_id(start)?;
    let mut lines = Vec::new();
    graph_group(inv, g, 0, &mut lines);
    Some(lines.join("\n"))
}

fn graph_name(name: &str, depth: usize) -> String {
    if depth == 0 {
        name.to_string()
    } else {
        format!("{}--{}", "  |".repeat(depth), name)
    }
}

fn graph_group(inv: &Inventory, g: usize, depth: usize, lines: &mut Vec<String>) {
    let group = &inv.groups[g];
    lines.push(graph_name(&format!("@{}:", group.name), depth));
    for &c in &group.children {
        graph_group(inv, c, depth + 1, lines);
    }
    if g != ALL {
        for &h in &group.hosts {
            lines.push(graph_name(&inv.hosts[h].name, depth + 1));
        }
    }
}

/// For error messages: a JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::new();
    write_json_str(&mut out, s);
    out
}
