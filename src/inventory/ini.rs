//! Ansible's INI inventory format, line by line as its `ini` plugin reads it.
//!
//! Why not the `configparser` crate: Ansible's INI is not Python-configparser
//! INI. Host lines are shell-quoted token lists rather than `key=value`, `#`
//! cuts a host line mid-word but not a `:vars` line, values go through
//! `literal_eval`, host names carry ranges and ports, and `[g:children]` may
//! name groups declared later. A general INI reader would get most of these
//! wrong, so this is the small line parser Ansible itself has.

use std::collections::HashMap;
use std::path::Path;

use super::hostpattern;
use super::pyliteral::{literal_eval, Eval};
use super::shlex;
use super::{Inventory, Value};
use crate::diag::Diagnostic;

const CHECK: &str = "InventorySyntax";

pub fn load(path: &Path) -> Result<Inventory, Diagnostic> {
    let bytes = std::fs::read(path).map_err(|e| {
        Diagnostic::error("InventoryFile", format!("cannot read the inventory: {e}")).at(path, None)
    })?;
    parse(path, &bytes)
}

/// Parses inventory text; the first error stops it, as it stops Ansible.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Inventory, Diagnostic> {
    let lines = split_lines(path, bytes)?;
    let mut parser = Parser {
        inv: Inventory::new(path.to_path_buf()),
        pending: HashMap::new(),
        pending_order: Vec::new(),
        path,
    };
    parser.run(&lines)?;
    let mut inv = parser.inv;
    inv.reconcile()
        .map_err(|(line, e)| Diagnostic::error(CHECK, e).at(path, Some(line)))?;
    Ok(inv)
}

fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.splitlines()`. For a file that is not UTF-8 we deliberately
/// differ from Ansible: it decodes with `surrogateescape` and carries the stray
/// bytes into names and values (printed as `?`); we accept them only in comment
/// lines, which we blank out, and fail on any other line.
fn split_lines(path: &Path, bytes: &[u8]) -> Result<Vec<String>, Diagnostic> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let mut lines = Vec::new();
        let mut cur = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    lines.push(std::mem::take(&mut cur));
                }
                '\n' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}'
                | '\u{2028}' | '\u{2029}' => lines.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        return Ok(lines);
    }
    let mut lines = Vec::new();
    let mut rest = bytes;
    let mut n = 0;
    while !rest.is_empty() {
        n += 1;
        let end = rest
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
            .unwrap_or(rest.len());
        let line = &rest[..end];
        let mut skip = end;
        if skip < rest.len() {
            skip += if rest[skip] == b'\r' && rest.get(skip + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
        }
        rest = &rest[skip..];
        if matches!(line.first(), Some(b'#') | Some(b';')) {
            lines.push(String::new());
        } else {
            match std::str::from_utf8(line) {
                Ok(s) => lines.push(s.to_string()),
                Err(_) => {
                    return Err(Diagnostic::error(
                        CHECK,
                        "the line is not valid UTF-8 (only comment lines may hold other bytes); save the file as UTF-8",
                    )
                    .at(path, Some(n)))
                }
            }
        }
    }
    Ok(lines)
}

enum State {
    Hosts,
    Children,
    Vars,
}

struct Pending {
    line: usize,
    is_vars: bool,
    parents: Vec<usize>,
}

struct Parser<'a> {
    inv: Inventory,
    pending: HashMap<String, Pending>,
    pending_order: Vec<String>,
    path: &'a Path,
}

impl Parser<'_> {
    fn err(&self, line: usize, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::error(CHECK, msg).at(self.path, Some(line))
    }

    fn run(&mut self, lines: &[String]) -> Result<(), Diagnostic> {
        let mut group = super::UNGROUPED;
        let mut state = State::Hosts;
        for (i, raw) in lines.iter().enumerate() {
            let n = i + 1;
            let line = raw.trim_matches(is_py_space);
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some((name, kind)) = section_header(line) {
                state = match kind.unwrap_or("hosts") {
                    "hosts" => State::Hosts,
                    "children" => State::Children,
                    "vars" => State::Vars,
                    other => {
                        return Err(self.err(
                            n,
                            format!("Section [{name}:{other}] has unknown type: {other}"),
                        ))
                    }
                };
                let is_vars = matches!(state, State::Vars);
                if self.inv.group_id(name).is_none() {
                    if is_vars && !self.pending.contains_key(name) {
                        self.add_pending(name, n, true, None);
                    }
                    self.inv.add_group(name);
                }
                group = self.inv.group_id(name).expect("just added");
                if self.inv.groups[group].line.is_none() {
                    self.inv.groups[group].line = Some(n);
                }
                if !is_vars {
                    match self.pending.get(name).map(|p| p.is_vars) {
                        Some(false) => self.add_pending_children(name, n)?,
                        Some(true) => {
                            self.pending.remove(name);
                        }
                        None => {}
                    }
                }
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                return Err(self.err(
                    n,
                    format!("Invalid section entry: '{line}'. Please make sure that there are no spaces in the section entry, and that there are no other invalid characters"),
                ));
            }
            match state {
                State::Hosts => self.host_line(line, group, n)?,
                State::Vars => {
                    let Some((k, v)) = line.split_once('=') else {
                        return Err(self.err(n, format!("Expected key=value, got: {line}")));
                    };
                    let value = self.value(v.trim_matches(is_py_space), n)?;
                    self.inv
                        .set_group_variable(group, k.trim_matches(is_py_space), value, n)
                        .map_err(|e| self.err(n, e))?;
                }
                State::Children => {
                    let child = group_name_line(line)
                        .ok_or_else(|| self.err(n, format!("Expected group name, got: {line}")))?;
                    match self.inv.group_id(child) {
                        // Ansible takes this edge, then fails when it puts the
                        // parentless top group under `all`; say so at this line.
                        Some(super::ALL) if group != super::ALL => {
                            return Err(self.err(
                                n,
                                format!("group 'all' cannot be a child of '{}': every group is already under 'all', so this creates a recursive dependency loop.", self.inv.groups[group].name),
                            ))
                        }
                        Some(c) => self.inv.add_child(group, c).map_err(|e| self.err(n, e))?,
                        None => match self.pending.get_mut(child) {
                            Some(p) => p.parents.push(group),
                            None => self.add_pending(child, n, false, Some(group)),
                        },
                    }
                }
            }
        }
        for name in &self.pending_order {
            if let Some(p) = self.pending.get(name) {
                let msg = if p.is_vars {
                    format!("Section [{name}:vars] not valid for undefined group '{name}'.")
                } else {
                    let parent = &self.inv.groups
                        [*p.parents.last().expect("children entries have a parent")]
                    .name;
                    format!("Section [{parent}:children] includes undefined group '{name}'.")
                };
                return Err(self.err(p.line, msg));
            }
        }
        Ok(())
    }

    fn add_pending(&mut self, name: &str, line: usize, is_vars: bool, parent: Option<usize>) {
        self.pending.insert(
            name.to_string(),
            Pending {
                line,
                is_vars,
                parents: parent.into_iter().collect(),
            },
        );
        self.pending_order.retain(|n| n != name);
        self.pending_order.push(name.to_string());
    }

    fn add_pending_children(&mut self, name: &str, line: usize) -> Result<(), Diagnostic> {
        let Some(p) = self.pending.remove(name) else {
            return Ok(());
        };
        let child = self.inv.group_id(name).expect("declared before resolving");
        for parent in p.parents {
            self.inv
                .add_child(parent, child)
                .map_err(|e| self.err(line, e))?;
            let parent_name = self.inv.groups[parent].name.clone();
            if self.pending.get(&parent_name).is_some_and(|pp| !pp.is_vars) {
                self.add_pending_children(&parent_name, line)?;
            }
        }
        Ok(())
    }

    fn value(&self, text: &str, line: usize) -> Result<Value, Diagnostic> {
        match literal_eval(text) {
            Ok(Eval::Literal(v)) => Ok(v),
            Ok(Eval::NotLiteral) => Ok(Value::Str(text.to_string())),
            Err(e) => Err(self.err(line, format!("value {text:?} cannot be used: {e}"))),
        }
    }

    fn host_line(&mut self, line: &str, group: usize, n: usize) -> Result<(), Diagnostic> {
        let split = shlex::split(line)
            .map_err(|e| self.err(n, format!("Error parsing host definition '{line}': {e}")))?;
        let Some(first) = split.tokens.first() else {
            return Err(self.err(
                n,
                format!("Error parsing host definition '{line}': no host name"),
            ));
        };
        let pattern = hostpattern::expand(first).map_err(|e| self.err(n, e))?;
        let mut vars = Vec::new();
        for t in &split.tokens[1..] {
            let Some((k, v)) = t.split_once('=') else {
                return Err(self.err(
                    n,
                    format!("Expected key=value host variable assignment, got: {t}"),
                ));
            };
            vars.push((k.to_string(), self.value(v, n)?));
        }
        if let Some(at) = split.comment_at {
            self.warn_cut_value(line, at, &split.tokens, n);
        }
        for name in &pattern.names {
            if name.is_empty() {
                return Err(self.err(n, "Invalid empty host name provided: "));
            }
            let (h, created) = self.inv.add_host(name, n);
            self.inv.add_host_to_group(group, h);
            if created {
                if let Some(port) = pattern.port.as_deref().map(|p| p.trim_start_matches('0')) {
                    if !port.is_empty() {
                        self.inv.hosts[h]
                            .vars
                            .set("ansible_port", Value::Int(port.to_string()), n);
                    }
                }
            }
            for (k, v) in &vars {
                self.inv
                    .set_host_variable(h, k, v.clone(), n)
                    .map_err(|e| self.err(n, e))?;
            }
        }
        Ok(())
    }

    /// `pass=ab#cd` is `pass=ab` to Ansible (kubesphere#2295): say so, without the value.
    fn warn_cut_value(&mut self, line: &str, at: usize, tokens: &[String], n: usize) {
        let glued = at > 0
            && line[..at]
                .chars()
                .last()
                .is_some_and(|c| !c.is_whitespace());
        let Some(last) = tokens.last().filter(|_| glued && tokens.len() > 1) else {
            return;
        };
        let Some((key, _)) = last.split_once('=') else {
            return;
        };
        self.inv.warnings.push(
            Diagnostic::warning(
                "UnquotedHash",
                format!(
                    "the value of '{key}' is cut at an unquoted '#': Ansible (and this installer) read only what comes before it. \
                     If the '#' belongs to the value, quote it (\"...\") or escape it (\\#)."
                ),
            )
            .at(self.path, Some(n)),
        );
    }
}

/// `^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`
fn section_header(line: &str) -> Option<(&str, Option<&str>)> {
    let rest = line.strip_prefix('[')?;
    let name_end = rest.find(|c: char| c == ':' || c == ']' || is_py_space(c))?;
    if name_end == 0 {
        return None;
    }
    let name = &rest[..name_end];
    let mut after = &rest[name_end..];
    let mut kind = None;
    if let Some(k) = after.strip_prefix(':') {
        let kend = k
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(k.len());
        if kend == 0 {
            return None;
        }
        kind = Some(&k[..kend]);
        after = &k[kend..];
    }
    let after = after.strip_prefix(']')?;
    let after = after.trim_start_matches(is_py_space);
    if after.is_empty() || after.starts_with('#') {
        Some((name, kind))
    } else {
        None
    }
}

/// `^([^:\]\s]+)\s*(?:#.*)?$`
fn group_name_line(line: &str) -> Option<&str> {
    let end = line
        .find(|c: char| c == ':' || c == ']' || is_py_space(c))
        .unwrap_or(line.len());
    if end == 0 {
        return None;
    }
    let after = line[end..].trim_start_matches(is_py_space);
    if after.is_empty() || after.starts_with('#') {
        Some(&line[..end])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::PyInt;

    fn inv(text: &str) -> Inventory {
        parse(Path::new("hosts.ini"), text.as_bytes()).unwrap()
    }

    #[test]
    fn headers_and_group_names() {
        assert_eq!(section_header("[a]"), Some(("a", None)));
        assert_eq!(section_header("[a:vars]  # x"), Some(("a", Some("vars"))));
        assert_eq!(section_header("[a b]"), None);
        assert_eq!(section_header("[a] ; x"), None);
        assert_eq!(group_name_line("kube-node  # c"), Some("kube-node"));
        assert_eq!(group_name_line("a b"), None);
    }

    #[test]
    fn children_declared_before_their_section() {
        let i = inv("[k8s:children]\nkm\n[km]\nm1\n");
        let k8s = i.group_id("k8s").unwrap();
        assert_eq!(i.hosts_of(k8s).len(), 1);
    }

    #[test]
    fn undefined_child_group_is_an_error_with_its_line() {
        let e = parse(Path::new("h.ini"), b"[a:children]\nnope\n").unwrap_err();
        assert!(
            e.message.contains("includes undefined group 'nope'"),
            "{}",
            e.message
        );
        assert_eq!(e.location.unwrap().line, Some(2));
    }

    #[test]
    fn host_vars_merge_by_depth_then_host() {
        let i = inv(
            "[all:vars]\nx=0\ny=0\n[p:children]\nc\n[p:vars]\nx=1\n[c]\nh z=3\n[c:vars]\ny=2\n",
        );
        let h = i.host_id("h").unwrap();
        let vars = i.host_vars(h);
        let get = |k: &str| vars.get(k).unwrap().value.to_text();
        assert_eq!(
            (get("x"), get("y"), get("z")),
            ("1".into(), "2".into(), "3".into())
        );
    }

    #[test]
    fn group_priority_goes_through_python_int() {
        let i = inv("[a]\nh\n[b]\nh\n[a:vars]\nansible_group_priority=\" 1_0 \"\nv=a\n[b:vars]\nansible_group_priority=9.9\nv=b\n");
        let h = i.host_id("h").unwrap();
        assert_eq!(i.host_vars(h).get("v").unwrap().value.to_text(), "a");
        for bad in ["high", "None", "[1]", "1e400"] {
            let text = format!("[a]\nh\n[a:vars]\nansible_group_priority={bad}\n");
            let e = parse(Path::new("h.ini"), text.as_bytes()).unwrap_err();
            assert_eq!(e.location.unwrap().line, Some(4), "{bad}");
        }
        assert!(PyInt::parse("-007").unwrap() < PyInt::parse("3").unwrap());
        assert!(PyInt::parse("99999999999999999999999").unwrap() > PyInt::from(i64::MAX));
        assert!(PyInt::parse("-99999999999999999999999").unwrap() < PyInt::from(i64::MIN));
    }

    #[test]
    fn lone_all_host_named_like_a_group_puts_the_group_under_ungrouped() {
        let i = inv("[all]\ncache\n[cache]\nc1\n");
        let ungrouped = &i.groups[super::super::UNGROUPED];
        assert!(ungrouped.hosts.is_empty());
        assert_eq!(ungrouped.children, [i.group_id("cache").unwrap()]);
        let e = parse(Path::new("h.ini"), b"[all]\nx\n[x:children]\nungrouped\n").unwrap_err();
        assert_eq!(e.location.unwrap().line, Some(2));
    }

    #[test]
    fn warns_when_a_hash_cuts_a_value() {
        let i = inv("[all]\nn1 ansible_ssh_pass=ab#cd\nn2 ansible_ssh_pass='ab#cd'\n");
        assert_eq!(i.warnings.len(), 1);
        assert!(!i.warnings[0].message.contains("ab"));
    }
}
