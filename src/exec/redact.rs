//! Keeping secrets out of what we write: every known secret is replaced by
//! `***` in any text before it reaches a log, a progress line or an error.

use std::sync::{Arc, RwLock};

use crate::model::Secret;

/// The set of secrets of a run. Clones share one set, so a secret learnt
/// mid-run (the kubeadm token made for this cluster) is kept out of the
/// log and the screen alike.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    secrets: Arc<RwLock<Vec<String>>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.list().len())
    }
}

impl Redactor {
    pub fn new() -> Self {
        Redactor::default()
    }

    fn list(&self) -> std::sync::RwLockReadGuard<'_, Vec<String>> {
        self.secrets.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, secret: &Secret) {
        self.add_str(secret.expose());
    }

    pub fn add_str(&self, s: &str) {
        // Empty or one-character "secrets" would wreck every line; they are
        // not secrets anyone can protect anyway.
        let mut secrets = self.secrets.write().unwrap_or_else(|p| p.into_inner());
        if s.len() < 2 || secrets.iter().any(|x| x == s) {
            return;
        }
        secrets.push(s.to_string());
        secrets.sort_by_key(|b| std::cmp::Reverse(b.len()));
    }

    /// Adds every secret of `other` to this set (and so to its clones).
    pub fn extend(&self, other: &Redactor) {
        for s in other.list().iter() {
            self.add_str(s);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list().is_empty()
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.list().iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    /// Bytes (command output) redacted, decoded lossily for the log.
    pub fn redact_bytes(&self, bytes: &[u8]) -> String {
        self.redact(&String::from_utf8_lossy(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_longest_first() {
        let r = Redactor::new();
        r.add_str("pass");
        r.add_str("password1");
        r.add_str("x");
        assert_eq!(r.redact("a password1 b pass c x"), "a *** b *** c x");
    }

    #[test]
    fn a_secret_learnt_later_reaches_every_clone() {
        let log = Redactor::new();
        let engine = log.clone();
        engine.add_str("abcdef.0123456789abcdef");
        assert_eq!(log.redact("--token abcdef.0123456789abcdef"), "--token ***");
    }
}
