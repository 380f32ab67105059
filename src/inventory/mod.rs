//! An Ansible inventory, held the way Ansible's `InventoryData` holds it: groups
//! and hosts in the order first seen, group parent/child edges, per-group and
//! per-host variables. `ini` fills it from a hosts.ini file; `output` prints it
//! as `ansible-inventory --list/--graph` would.

pub mod hostpattern;
pub mod ini;
pub mod output;
pub mod pyliteral;
pub mod shlex;
pub mod value;

use std::collections::HashMap;
use std::path::PathBuf;

use crate::diag::Diagnostic;
pub use value::Value;

/// One variable assignment and the line it came from (for diagnostics).
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub key: String,
    pub value: Value,
    pub line: usize,
}

/// Insertion-ordered variables where a later assignment replaces the value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars(pub Vec<Var>);

impl Vars {
    pub fn set(&mut self, key: &str, value: Value, line: usize) {
        match self.0.iter_mut().find(|v| v.key == key) {
            Some(v) => {
                v.value = value;
                v.line = line;
            }
            None => self.0.push(Var {
                key: key.to_string(),
                value,
                line,
            }),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Var> {
        self.0.iter().find(|v| v.key == key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `self | other`: other's values win.
    pub fn merge(&mut self, other: &Vars) {
        for v in &other.0 {
            self.set(&v.key, v.value.clone(), v.line);
        }
    }
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub hosts: Vec<usize>,
    pub children: Vec<usize>,
    pub parents: Vec<usize>,
    pub vars: Vars,
    pub priority: PyInt,
    /// Line of the first section header naming the group.
    pub line: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct Host {
    pub name: String,
    pub vars: Vars,
    /// Line where the host first appeared.
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Inventory {
    pub path: PathBuf,
    pub groups: Vec<Group>,
    pub hosts: Vec<Host>,
    group_index: HashMap<String, usize>,
    host_index: HashMap<String, usize>,
    /// host -> the groups that list it directly (kept with `groups[g].hosts`,
    /// so a host's groups are found without scanning every group's list).
    memberships: Vec<Vec<usize>>,
    /// Things Ansible accepts silently that an operator should hear about.
    pub warnings: Vec<Diagnostic>,
}

/// A Python int of any size (canonical decimal text), ordered numerically:
/// group priorities are compared the way Python compares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyInt(String);

impl From<i64> for PyInt {
    fn from(i: i64) -> Self {
        PyInt(i.to_string())
    }
}

impl PyInt {
    /// Python's `int(value)` for an inventory value.
    pub fn of(value: &Value) -> Result<PyInt, String> {
        match value {
            Value::Int(i) => Ok(PyInt(i.clone())),
            Value::Bool(b) => Ok(PyInt::from(*b as i64)),
            Value::Float(f) if f.is_finite() => {
                let t = f.trunc();
                Ok(PyInt(if t == 0.0 { "0".into() } else { format!("{t:.0}") }))
            }
            Value::Float(f) => Err(format!(
                "cannot convert float {} to integer",
                if f.is_nan() { "NaN" } else { "infinity" }
            )),
            Value::Str(s) | Value::Unsafe(s) => {
                Self::parse(s).ok_or_else(|| format!("invalid literal for int() with base 10: {}", value::py_str_repr(s)))
            }
            Value::None => Err("int() argument must be a string, a bytes-like object or a real number, not 'NoneType'".into()),
            Value::List(_) => Err("int() argument must be a string, a bytes-like object or a real number, not 'list'".into()),
            Value::Dict(_) => Err("int() argument must be a string, a bytes-like object or a real number, not 'dict'".into()),
        }
    }

    /// `int(text)`: surrounding whitespace, a sign, `_` between digits.
    pub fn parse(text: &str) -> Option<PyInt> {
        let t =
            text.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c));
        let (neg, digits) = match t.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        if digits.is_empty()
            || digits.starts_with('_')
            || digits.ends_with('_')
            || digits.contains("__")
        {
            return None;
        }
        let clean: String = digits.chars().filter(|c| *c != '_').collect();
        if !clean.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let clean = clean.trim_start_matches('0');
        Some(PyInt(match (clean.is_empty(), neg) {
            (true, _) => "0".into(),
            (false, true) => format!("-{clean}"),
            (false, false) => clean.to_string(),
        }))
    }
}

impl Ord for PyInt {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let split = |s: &str| match s.strip_prefix('-') {
            Some(d) => (true, d.len(), d.to_string()),
            None => (false, s.len(), s.to_string()),
        };
        let ((an, al, a), (bn, bl, b)) = (split(&self.0), split(&other.0));
        match (an, bn) {
            (false, true) => std::cmp::Ordering::Greater,
            (true, false) => std::cmp::Ordering::Less,
            (false, false) => (al, a).cmp(&(bl, b)),
            (true, true) => (bl, b).cmp(&(al, a)),
        }
    }
}

impl PartialOrd for PyInt {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

pub const ALL: usize = 0;
pub const UNGROUPED: usize = 1;

/// Variables `ansible-inventory` never shows (Ansible's `INTERNAL_STATIC_VARS`).
const INTERNAL_VARS: &[&str] = &[
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
];

impl Inventory {
    pub fn new(path: PathBuf) -> Self {
        let mut inv = Inventory {
            path,
            groups: Vec::new(),
            hosts: Vec::new(),
            group_index: HashMap::new(),
            host_index: HashMap::new(),
            memberships: Vec::new(),
            warnings: Vec::new(),
        };
        inv.add_group("all");
        inv.add_group("ungrouped");
        inv.add_child(ALL, UNGROUPED)
            .expect("fresh groups have no cycle");
        inv
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.group_index.get(name).map(|&i| &self.groups[i])
    }

    pub fn group_id(&self, name: &str) -> Option<usize> {
        self.group_index.get(name).copied()
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.host_index.get(name).map(|&i| &self.hosts[i])
    }

    pub fn host_id(&self, name: &str) -> Option<usize> {
        self.host_index.get(name).copied()
    }

    pub fn add_group(&mut self, name: &str) -> usize {
        if let Some(&i) = self.group_index.get(name) {
            return i;
        }
        self.groups.push(Group {
            name: name.to_string(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            vars: Vars::default(),
            priority: PyInt::from(1),
            line: None,
        });
        let i = self.groups.len() - 1;
        self.group_index.insert(name.to_string(), i);
        i
    }

    /// Adds the host if new; returns its index and whether it was created.
    pub fn add_host(&mut self, name: &str, line: usize) -> (usize, bool) {
        if let Some(&i) = self.host_index.get(name) {
            return (i, false);
        }
        self.hosts.push(Host {
            name: name.to_string(),
            vars: Vars::default(),
            line,
        });
        let i = self.hosts.len() - 1;
        self.host_index.insert(name.to_string(), i);
        self.memberships.push(Vec::new());
        (i, true)
    }

    pub fn add_host_to_group(&mut self, group: usize, host: usize) {
        if !self.memberships[host].contains(&group) {
            self.memberships[host].push(group);
            self.groups[group].hosts.push(host);
        }
    }

    /// Ancestors of a group (not including itself).
    pub fn ancestors(&self, group: usize) -> Vec<usize> {
        let mut seen = Vec::new();
        let mut todo: Vec<usize> = self.groups[group].parents.clone();
        while let Some(g) = todo.pop() {
            if !seen.contains(&g) {
                seen.push(g);
                todo.extend(self.groups[g].parents.iter().copied());
            }
        }
        seen
    }

    pub fn add_child(&mut self, parent: usize, child: usize) -> Result<(), String> {
        if parent == child {
            return Err(format!(
                "can't add group '{}' to itself",
                self.groups[parent].name
            ));
        }
        if self.groups[parent].children.contains(&child) {
            return Ok(());
        }
        if self.ancestors(parent).contains(&child) {
            return Err(format!(
                "Adding group '{}' as child to '{}' creates a recursive dependency loop.",
                self.groups[child].name, self.groups[parent].name
            ));
        }
        self.groups[parent].children.push(child);
        if !self.groups[child].parents.contains(&parent) {
            self.groups[child].parents.push(parent);
        }
        Ok(())
    }

    /// Ansible's `set_variable(entity, ...)`: a name that is both a group and a
    /// host sets the group's variable, as Ansible does.
    pub fn set_host_variable(
        &mut self,
        host: usize,
        key: &str,
        value: Value,
        line: usize,
    ) -> Result<(), String> {
        let name = self.hosts[host].name.clone();
        if let Some(&g) = self.group_index.get(&name) {
            self.set_group_variable(g, key, value, line)
        } else {
            self.hosts[host].vars.set(key, value, line);
            Ok(())
        }
    }

    /// `ansible_group_priority` goes through Python's `int()`, whose errors
    /// (`abc`, `None`, a list) fail the inventory in Ansible too.
    pub fn set_group_variable(
        &mut self,
        group: usize,
        key: &str,
        value: Value,
        line: usize,
    ) -> Result<(), String> {
        if key == "ansible_group_priority" {
            self.groups[group].priority = PyInt::of(&value)?;
            return Ok(());
        }
        self.groups[group].vars.set(key, value, line);
        Ok(())
    }

    /// Ansible's `reconcile_inventory`: parentless groups join `all`, hosts in
    /// no group join `ungrouped`, and `ungrouped` loses hosts that have a group.
    /// An error names the line of the host that caused it.
    pub fn reconcile(&mut self) -> Result<(), (usize, String)> {
        for g in 0..self.groups.len() {
            if g != ALL && self.groups[g].parents.is_empty() {
                self.add_child(ALL, g)
                    .map_err(|e| (self.groups[g].line.unwrap_or(1), e))?;
            }
        }
        for h in 0..self.hosts.len() {
            let direct = self.direct_groups(h);
            if direct.contains(&UNGROUPED) {
                let closure = self.host_groups(h);
                if closure.iter().any(|g| *g != ALL && *g != UNGROUPED) {
                    self.groups[UNGROUPED].hosts.retain(|x| *x != h);
                    self.memberships[h].retain(|g| *g != UNGROUPED);
                }
            } else if direct.iter().all(|g| *g == ALL) {
                // Ansible does `add_child('ungrouped', host_name)`, which takes a
                // *group* of that name when there is one: a lone `[all]` host
                // named like a group puts that group under `ungrouped` instead.
                match self.group_id(&self.hosts[h].name) {
                    Some(g) => self
                        .add_child(UNGROUPED, g)
                        .map_err(|e| (self.hosts[h].line, e))?,
                    None => self.add_host_to_group(UNGROUPED, h),
                }
            }
        }
        Ok(())
    }

    pub fn direct_groups(&self, host: usize) -> Vec<usize> {
        let mut groups = self.memberships[host].clone();
        groups.sort_unstable();
        groups
    }

    /// Every group the host is in, directly or through a child group.
    pub fn host_groups(&self, host: usize) -> Vec<usize> {
        let mut out = Vec::new();
        for g in self.direct_groups(host) {
            if !out.contains(&g) {
                out.push(g);
            }
            for a in self.ancestors(g) {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
        }
        out
    }

    /// Longest path from `all`, which is what Ansible's incremental depth ends at.
    pub fn depths(&self) -> Vec<usize> {
        let mut depth = vec![0usize; self.groups.len()];
        // Relax edges until stable; the graph is acyclic and small.
        for _ in 0..=self.groups.len() {
            let mut changed = false;
            for (p, g) in self.groups.iter().enumerate() {
                for &c in &g.children {
                    if depth[c] < depth[p] + 1 {
                        depth[c] = depth[p] + 1;
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        depth
    }

    /// A host's variables as a play sees them: `all`, then its groups by
    /// (depth, priority, name), then the host's own.
    pub fn host_vars(&self, host: usize) -> Vars {
        let depth = self.depths();
        let mut groups: Vec<usize> = self
            .host_groups(host)
            .into_iter()
            .filter(|g| *g != ALL)
            .collect();
        groups.sort_by(|a, b| {
            (depth[*a], &self.groups[*a].priority, &self.groups[*a].name).cmp(&(
                depth[*b],
                &self.groups[*b].priority,
                &self.groups[*b].name,
            ))
        });
        let mut vars = self.groups[ALL].vars.clone();
        for g in groups {
            vars.merge(&self.groups[g].vars);
        }
        vars.merge(&self.hosts[host].vars);
        vars.0.retain(|v| !INTERNAL_VARS.contains(&v.key.as_str()));
        vars
    }

    /// Hosts of a group and all its descendants, in Ansible's order.
    pub fn hosts_of(&self, group: usize) -> Vec<usize> {
        let mut order = vec![group];
        let mut i = 0;
        while i < order.len() {
            for &c in &self.groups[order[i]].children {
                if !order.contains(&c) {
                    order.push(c);
                }
            }
            i += 1;
        }
        // A seen-set keeps this linear in hosts (10,000 hosts: a list
        // search per host made `check` take minutes).
        let mut seen = vec![false; self.hosts.len()];
        let mut hosts = Vec::new();
        for g in order {
            for &h in &self.groups[g].hosts {
                if !std::mem::replace(&mut seen[h], true) {
                    hosts.push(h);
                }
            }
        }
        hosts
    }

    /// Hosts of a group by name, or an empty list when the group is absent.
    pub fn hosts_named(&self, group: &str) -> Vec<usize> {
        self.group_id(group)
            .map(|g| self.hosts_of(g))
            .unwrap_or_default()
    }
}
