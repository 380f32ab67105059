//! Diagnostics in kubeadm's style: `[ERROR Name]: message` / `[WARNING Name]: message`,
//! each with the file and line it comes from when there is one. Every check
//! reports all it finds; the caller decides whether errors stop the run.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.file.display(), line),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable CamelCase name, usable with `--ignore-errors`.
    pub name: String,
    pub message: String,
    pub location: Option<Location>,
    /// The inventory host it is about (`Cluster::at_node`): the same
    /// finding on many hosts is shown once, with the hosts named.
    pub host: Option<String>,
}

impl Diagnostic {
    pub fn error(name: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            name: name.to_string(),
            message: message.into(),
            location: None,
            host: None,
        }
    }

    pub fn warning(name: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(name, message)
        }
    }

    pub fn at(mut self, file: &Path, line: Option<usize>) -> Self {
        self.location = Some(Location {
            file: file.to_path_buf(),
            line,
        });
        self
    }

    pub fn on_host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The message with its host written `'*'`: equal for the same finding
    /// on different hosts.
    fn shape(&self) -> Option<String> {
        let h = self.host.as_ref()?;
        Some(self.message.replace(&format!("'{h}'"), "'*'"))
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        };
        write!(f, "[{} {}]: ", tag, self.name)?;
        if let Some(loc) = &self.location {
            write!(f, "{}: ", loc)?;
        }
        f.write_str(&self.message)
    }
}

/// Checks that keep a value safe to put in a host's command or file (a
/// host name, an address, a path of plain characters, a whole number): no
/// `--ignore-errors` lets such a value through.
pub const NEVER_IGNORED: &[&str] = &[
    "Hostname",
    "Address",
    "MaskedAddress",
    "EtcdPath",
    "EtcdBackup",
];

/// A list of diagnostics, with kubeadm's rule that named errors can be
/// downgraded to warnings by the operator (`--ignore-errors NAME,...`, or `all`).
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub items: Vec<Diagnostic>,
}

impl Report {
    /// Adds a diagnostic unless the very same one is already there.
    pub fn push(&mut self, d: Diagnostic) {
        if !self.items.contains(&d) {
            self.items.push(d);
        }
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        for d in other {
            self.push(d);
        }
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.is_error())
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// The errors alone, and the warnings alone: a run prints its warnings
    /// and goes on, or stops on its errors.
    pub fn split(&self) -> (Report, Report) {
        let (errors, warnings) = self.items.iter().cloned().partition(|d| d.is_error());
        (Report { items: errors }, Report { items: warnings })
    }

    /// Turns the errors named `name` into warnings, their message ending
    /// with `why`.
    pub fn soften(&mut self, name: &str, why: &str) {
        for d in self
            .items
            .iter_mut()
            .filter(|d| d.is_error() && d.name == name)
        {
            d.severity = Severity::Warning;
            d.message.push_str(why);
        }
    }

    /// Turns the named errors (or `all`) into warnings, but for
    /// [`NEVER_IGNORED`].
    pub fn ignore(&mut self, names: &[String]) {
        let all = names.iter().any(|n| n.eq_ignore_ascii_case("all"));
        for d in &mut self.items {
            if !d.is_error() {
                continue;
            }
            let named = names.iter().any(|n| n.eq_ignore_ascii_case(&d.name));
            if NEVER_IGNORED.contains(&d.name.as_str()) {
                if all || named {
                    d.message.push_str(" (--ignore-errors cannot ignore this: the value reaches host commands and files)");
                }
                continue;
            }
            if all || named {
                d.severity = Severity::Warning;
                d.message.push_str(" (ignored by --ignore-errors)");
            }
        }
    }

    /// Warnings first, then errors, each group in the order found. The same
    /// finding on several hosts is one line: how many hosts and which, then
    /// the first host's diagnostic.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for sev in [Severity::Warning, Severity::Error] {
            let items: Vec<&Diagnostic> = self.items.iter().filter(|d| d.severity == sev).collect();
            let shapes: Vec<Option<String>> = items.iter().map(|d| d.shape()).collect();
            let mut shown = vec![false; items.len()];
            for (i, d) in items.iter().enumerate() {
                if shown[i] {
                    continue;
                }
                let mut hosts = Vec::new();
                if shapes[i].is_some() {
                    for (j, e) in items.iter().enumerate().skip(i) {
                        if !shown[j] && e.name == d.name && shapes[j] == shapes[i] {
                            shown[j] = true;
                            hosts.extend(e.host.clone());
                        }
                    }
                }
                let line = d.to_string();
                match line.split_once("]: ") {
                    Some((tag, rest)) if hosts.len() > 1 => out.push_str(&format!(
                        "{tag}]: on {} hosts ({}), e.g. {rest}\n",
                        hosts.len(),
                        host_list(&hosts)
                    )),
                    _ => out.push_str(&format!("{line}\n")),
                }
            }
        }
        out
    }
}

/// `a, b, c`, or the first eight and how many more.
fn host_list(hosts: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut s = hosts
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if hosts.len() > SHOWN {
        s.push_str(&format!(" and {} more", hosts.len() - SHOWN));
    }
    s
}

/// An error that carries its diagnostics; the binary prints them and exits 2.
#[derive(Debug)]
pub struct Invalid(pub Report);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.errors().count();
        write!(
            f,
            "{}{} error{} found; nothing was changed on any host",
            self.0.render(),
            n,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Invalid {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soften_turns_the_named_errors_into_warnings_with_the_reason() {
        let mut r = Report::default();
        r.push(Diagnostic::error("EtcdOddCount", "two members"));
        r.push(Diagnostic::error("Hostname", "bad"));
        r.soften("EtcdOddCount", "; it runs");
        let names: Vec<(&str, bool)> = r
            .items
            .iter()
            .map(|d| (d.name.as_str(), d.is_error()))
            .collect();
        assert_eq!(names, [("EtcdOddCount", false), ("Hostname", true)]);
        assert_eq!(r.items[0].message, "two members; it runs");
    }

    #[test]
    fn one_finding_on_many_hosts_is_one_line() {
        let mut r = Report::default();
        for h in ["node1", "node2", "node3"] {
            r.push(
                Diagnostic::warning("CPU", format!("'{h}' has 2 CPUs"))
                    .on_host(h)
                    .at(Path::new("hosts.ini"), Some(3)),
            );
        }
        r.push(Diagnostic::warning("CPU", "'node4' has 1 CPUs").on_host("node4"));
        r.push(Diagnostic::error("Disk", "'node1' is full").on_host("node1"));
        assert_eq!(
            r.render(),
            "[WARNING CPU]: on 3 hosts (node1, node2, node3), e.g. hosts.ini:3: 'node1' has 2 CPUs\n\
             [WARNING CPU]: 'node4' has 1 CPUs\n\
             [ERROR Disk]: 'node1' is full\n"
        );
        let many: Vec<String> = (1..=10).map(|i| format!("n{i}")).collect();
        assert_eq!(
            host_list(&many),
            "n1, n2, n3, n4, n5, n6, n7, n8 and 2 more"
        );
    }
}
