//! File content shared by every host that gets it. One bundle file (an
//! image tarball, a binary) goes to tens or hundreds of hosts: it is read
//! once, held once, and its SHA-256 (which each upload compares with the
//! host's copy) is computed once, so the installer's memory and CPU grow
//! with the bundle, not with bundle × hosts.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};

/// How much of a file is read at a time: what an upload holds of it.
pub const CHUNK: usize = 1 << 20;

#[derive(Clone)]
pub struct Blob(Arc<Inner>);

struct Inner {
    content: Content,
    sha256: OnceLock<String>,
}

/// Small content (rendered files, kubeconfigs) is held; bundle files and
/// snapshots stay on this machine's disk and are read a chunk at a time at
/// each upload, so memory does not grow with the bundle or the hosts.
enum Content {
    Held(Box<[u8]>),
    File { path: PathBuf, len: u64 },
}

impl Blob {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Blob {
        Blob(Arc::new(Inner {
            content: Content::Held(bytes.into().into_boxed_slice()),
            sha256: OnceLock::new(),
        }))
    }

    /// Content whose SHA-256 is already known.
    pub fn with_sha256(bytes: Vec<u8>, sha256: String) -> Blob {
        let b = Blob::new(bytes);
        let _ = b.0.sha256.set(sha256);
        b
    }

    /// A file on this machine, read through once here for its size and
    /// SHA-256, and not held: each upload streams it again, and the host
    /// checks what arrives against that SHA-256 (so a file changed since
    /// is refused, never installed).
    pub fn file(path: &Path) -> std::io::Result<Blob> {
        let mut f = std::fs::File::open(path)?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut len = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            len += n as u64;
        }
        let b = Blob(Arc::new(Inner {
            content: Content::File {
                path: path.to_path_buf(),
                len,
            },
            sha256: OnceLock::new(),
        }));
        let _ = b.0.sha256.set(hex::encode(hash.finalize()));
        Ok(b)
    }

    /// The very same content (one check, one digest), not merely equal.
    pub fn same(&self, other: &Blob) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub fn len(&self) -> u64 {
        match &self.0.content {
            Content::Held(b) => b.len() as u64,
            Content::File { len, .. } => *len,
        }
    }

    /// The file on this machine the content is read from, if it is one.
    pub fn path(&self) -> Option<&Path> {
        match &self.0.content {
            Content::File { path, .. } => Some(path),
            Content::Held(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The content when it is held in memory (not for bundle files).
    pub fn held(&self) -> Option<&[u8]> {
        match &self.0.content {
            Content::Held(b) => Some(b),
            Content::File { .. } => None,
        }
    }

    /// The whole content, read from disk if need be: for small files only.
    pub fn read_all(&self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        match &self.0.content {
            Content::Held(b) => Ok(std::borrow::Cow::Borrowed(b)),
            Content::File { path, .. } => std::fs::read(path).map(std::borrow::Cow::Owned),
        }
    }

    /// Hands the content to `sink` in order, at most `CHUNK` bytes at a
    /// time. A file that no longer has its length is an error.
    pub fn each_chunk<E>(
        &self,
        mut sink: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), ChunkError<E>> {
        match &self.0.content {
            Content::Held(b) => b.chunks(CHUNK).try_for_each(sink).map_err(ChunkError::Sink),
            Content::File { path, len } => {
                let local = |e: String| ChunkError::Local(format!("{}: {e}", path.display()));
                let mut f = std::fs::File::open(path).map_err(|e| local(e.to_string()))?;
                let mut buf = vec![0u8; CHUNK.min(*len as usize).max(1)];
                let mut left = *len;
                while left > 0 {
                    let want = buf.len().min(left as usize);
                    let n = f.read(&mut buf[..want]).map_err(|e| local(e.to_string()))?;
                    if n == 0 {
                        return Err(local(format!("shorter than the {len} bytes it had")));
                    }
                    sink(&buf[..n]).map_err(ChunkError::Sink)?;
                    left -= n as u64;
                }
                Ok(())
            }
        }
    }

    /// Lower-case hex SHA-256, computed on first use.
    pub fn sha256(&self) -> &str {
        self.0.sha256.get_or_init(|| match &self.0.content {
            Content::Held(b) => hex::encode(Sha256::digest(b)),
            Content::File { .. } => unreachable!("a file's digest is set when it is read"),
        })
    }
}

/// Why `each_chunk` stopped: the local file, or the sink.
#[derive(Debug)]
pub enum ChunkError<E> {
    Local(String),
    Sink(E),
}

impl PartialEq for Blob {
    fn eq(&self, other: &Blob) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || match (&self.0.content, &other.0.content) {
                (Content::Held(a), Content::Held(b)) => a == b,
                _ => self.len() == other.len() && self.sha256() == other.sha256(),
            }
    }
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.content {
            Content::Held(b) => match std::str::from_utf8(b) {
                Ok(s) if s.len() <= 4096 => write!(f, "{s:?}"),
                _ => write!(f, "<{} bytes>", self.len()),
            },
            Content::File { path, len } => write!(f, "<{len} bytes of {}>", path.display()),
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
        assert_eq!(a.held().unwrap().as_ptr(), b.held().unwrap().as_ptr());
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

    /// A file is streamed in chunks of its own bytes, never held; one cut
    /// short since it was read is an error, not a short upload.
    #[test]
    fn a_file_is_read_in_chunks_and_checked_for_its_length() {
        let dir = std::env::temp_dir().join(format!("ksi-blob-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let data: Vec<u8> = (0..(CHUNK * 2 + 7)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let b = Blob::file(&path).unwrap();
        assert!(b.held().is_none());
        assert_eq!(b.len(), data.len() as u64);
        assert_eq!(b.sha256(), hex::encode(Sha256::digest(&data)));
        assert_eq!(b, Blob::new(data.clone()));
        let mut got = Vec::new();
        let mut pieces = 0;
        b.each_chunk(|c| -> Result<(), ()> {
            assert!(c.len() <= CHUNK);
            pieces += 1;
            got.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
        assert_eq!((got == data, pieces), (true, 3));
        std::fs::write(&path, &data[..10]).unwrap();
        match b.each_chunk(|_| -> Result<(), ()> { Ok(()) }) {
            Err(ChunkError::Local(m)) => assert!(m.contains("shorter"), "{m}"),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
