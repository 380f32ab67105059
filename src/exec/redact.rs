//! Keeping secrets out of what we write: every known secret is replaced by
//! `***` in any text before it reaches a log, a progress line or an error.

use crate::model::Secret;

/// The set of secrets of a run. Cloning is cheap enough (a few strings).
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub fn new() -> Self {
        Redactor::default()
    }

    pub fn add(&mut self, secret: &Secret) {
        self.add_str(secret.expose());
    }

    pub fn add_str(&mut self, s: &str) {
        // Empty or one-character "secrets" would wreck every line; they are
        // not secrets anyone can protect anyway.
        if s.len() < 2 || self.secrets.iter().any(|x| x == s) {
            return;
        }
        self.secrets.push(s.to_string());
        self.secrets.sort_by_key(|b| std::cmp::Reverse(b.len()));
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
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
        let mut r = Redactor::new();
        r.add_str("pass");
        r.add_str("password1");
        r.add_str("x");
        assert_eq!(r.redact("a password1 b pass c x"), "a *** b *** c x");
    }
}
