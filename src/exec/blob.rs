//! File content shared by every host that gets it. One bundle file (an
//! image tarball, a binary) goes to tens or hundreds of hosts: it is read
//! once, held once, and its SHA-256 (which each upload compares with the
//! host's copy) is computed once, so the installer's memory and CPU grow
//! with the bundle, not with bundle × hosts.

use std::fmt;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct Blob(Arc<Inner>);

struct Inner {
    bytes: Box<[u8]>,
    sha256: OnceLock<String>,
}

impl Blob {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Blob {
        Blob(Arc::new(Inner {
            bytes: bytes.into().into_boxed_slice(),
            sha256: OnceLock::new(),
        }))
    }

    /// Content whose SHA-256 is already known (a bundle file checked
    /// against its manifest).
    pub fn with_sha256(bytes: Vec<u8>, sha256: String) -> Blob {
        let b = Blob::new(bytes);
        let _ = b.0.sha256.set(sha256);
        b
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0.bytes
    }

    pub fn len(&self) -> usize {
        self.0.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.bytes.is_empty()
    }

    /// Lower-case hex SHA-256, computed on first use.
    pub fn sha256(&self) -> &str {
        self.0
            .sha256
            .get_or_init(|| hex::encode(Sha256::digest(&self.0.bytes)))
    }
}

impl std::ops::Deref for Blob {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes()
    }
}

impl AsRef<[u8]> for Blob {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl PartialEq for Blob {
    fn eq(&self, other: &Blob) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.bytes() == other.bytes()
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.bytes()) {
            Ok(s) if s.len() <= 4096 => write!(f, "{s:?}"),
            _ => write!(f, "<{} bytes>", self.len()),
        }
    }
}

impl From<Vec<u8>> for Blob {
    fn from(v: Vec<u8>) -> Blob {
        Blob::new(v)
    }
}

impl From<String> for Blob {
    fn from(s: String) -> Blob {
        Blob::new(s.into_bytes())
    }
}

impl From<&str> for Blob {
    fn from(s: &str) -> Blob {
        Blob::new(s.as_bytes())
    }
}

impl From<&[u8]> for Blob {
    fn from(s: &[u8]) -> Blob {
        Blob::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_buffer_and_one_digest() {
        let a = Blob::new(b"hello".to_vec());
        let b = a.clone();
        assert_eq!(a.bytes().as_ptr(), b.bytes().as_ptr());
        assert_eq!(
            a.sha256(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(a.sha256().as_ptr(), b.sha256().as_ptr());
    }

    #[test]
    fn a_known_digest_is_not_recomputed() {
        let b = Blob::with_sha256(b"x".to_vec(), "given".into());
        assert_eq!(b.sha256(), "given");
    }
}
