//! File digests. SHA-256 is what the manifest pins; the apt index also
//! carries MD5 and SHA-1 because old apt versions (Ubuntu 16.04) read them.

use std::io::{self, Read};
use std::path::Path;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sums {
    pub size: u64,
    pub sha256: String,
    pub sha1: String,
    pub md5: String,
}

pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// All three digests and the size of a stream, in one pass.
pub fn sums_of<R: Read>(mut r: R) -> io::Result<Sums> {
    let (mut a, mut b, mut c) = (Sha256::new(), Sha1::new(), Md5::new());
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        a.update(&buf[..n]);
        b.update(&buf[..n]);
        c.update(&buf[..n]);
    }
    Ok(Sums {
        size,
        sha256: hex(&a.finalize()),
        sha1: hex(&b.finalize()),
        md5: hex(&c.finalize()),
    })
}

pub fn file_sums(path: &Path) -> io::Result<Sums> {
    sums_of(io::BufReader::new(std::fs::File::open(path)?))
}

/// SHA-256 and size of a file.
pub fn file_sha256(path: &Path) -> io::Result<(String, u64)> {
    let mut f = io::BufReader::new(std::fs::File::open(path)?);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex(&h.finalize()), size))
}

pub fn sha256_bytes(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// `file`'s SHA-256 in a published checksum file, lower-cased: a line
/// `<hex>` alone, or `<hex>  <file>` (`*<file>` in binary mode); in a
/// list of many files (etcd's `SHA256SUMS`) only the line naming `file`.
pub fn parse_sha256_text(text: &str, file: &str) -> Option<String> {
    let is_hex = |w: &str| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit());
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        let (hex, name) = (words.next()?, words.next());
        let named = match name.map(|n| n.trim_start_matches('*')) {
            None => true,
            Some(n) => n == file || n.ends_with(&format!("/{file}")),
        };
        (is_hex(hex) && named && words.next().is_none()).then(|| hex.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let s = sums_of(&b"abc"[..]).unwrap();
        assert_eq!(
            s.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(s.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(s.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(s.size, 3);
        assert_eq!(
            parse_sha256_text(
                &format!("{}  kubeadm\n", s.sha256.to_uppercase()),
                "kubeadm"
            ),
            Some(s.sha256.clone())
        );
        assert_eq!(
            parse_sha256_text(&s.sha256, "kubeadm"),
            Some(s.sha256.clone())
        );
        assert_eq!(parse_sha256_text("<html>404</html>", "kubeadm"), None);
        // etcd's SHA256SUMS lists every platform: only the file's own line
        // counts (the first hex word was taken before, a darwin zip's).
        let other = "1".repeat(64);
        let sums = format!(
            "{other}  etcd-v3.6.8-darwin-amd64.zip\n{}  etcd-v3.6.8-linux-amd64.tar.gz\n",
            s.sha256
        );
        assert_eq!(
            parse_sha256_text(&sums, "etcd-v3.6.8-linux-amd64.tar.gz"),
            Some(s.sha256)
        );
        assert_eq!(
            parse_sha256_text(&sums, "etcd-v3.6.8-linux-arm64.tar.gz"),
            None
        );
    }
}
