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
}

impl Diagnostic {
    pub fn error(name: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            name: name.to_string(),
            message: message.into(),
            location: None,
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

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
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

    pub fn ignore(&mut self, names: &[String]) {
        let all = names.iter().any(|n| n.eq_ignore_ascii_case("all"));
        for d in &mut self.items {
            if d.is_error() && (all || names.iter().any(|n| n.eq_ignore_ascii_case(&d.name))) {
                d.severity = Severity::Warning;
                d.message.push_str(" (ignored by --ignore-errors)");
            }
        }
    }

    /// Warnings first, then errors, each group in the order found.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for sev in [Severity::Warning, Severity::Error] {
            for d in self.items.iter().filter(|d| d.severity == sev) {
                out.push_str(&d.to_string());
                out.push('\n');
            }
        }
        out
    }
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
