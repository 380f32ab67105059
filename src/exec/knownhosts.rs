//! An OpenSSH-compatible `known_hosts` file: plain and hashed (`|1|`) host
//! names, `[host]:port` for ports other than 22, comma lists, `*`/`?`
//! patterns, `!` negation and the `@revoked` marker (`@cert-authority`
//! lines are skipped). Trust on first use appends new keys; a key that
//! differs from the recorded one of the same type is a hard error naming
//! both SHA256 fingerprints, as `ssh` prints them.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::error::{ExecError, KeyChange};

/// What to do with a key no line mentions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Record it and go on (like `StrictHostKeyChecking=accept-new`).
    TrustOnFirstUse,
    /// Refuse the host.
    Strict,
    /// Check nothing (tests only; never the default).
    Ignore,
}

#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    revoked: bool,
    patterns: String,
    key_type: String,
    key: Vec<u8>,
}

/// The file, loaded once per run and shared by all worker threads.
#[derive(Debug)]
pub struct KnownHosts {
    path: PathBuf,
    policy: HostKeyPolicy,
    entries: Mutex<Vec<Entry>>,
    /// Keys recorded on first use in this run, by host token: what the
    /// engine shows and logs, so trusting a key is never silent.
    learned: Mutex<BTreeMap<String, String>>,
}

/// The name a key is filed under: `host`, or `[host]:port` off port 22.
pub fn host_token(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// `SHA256:<base64 without padding>` of a key blob, as OpenSSH prints it.
pub fn fingerprint(key: &[u8]) -> String {
    let digest = Sha256::digest(key);
    let mut s = base64_encode(&digest);
    while s.ends_with('=') {
        s.pop();
    }
    format!("SHA256:{s}")
}

/// The key type named inside an SSH public key blob.
pub fn blob_key_type(key: &[u8]) -> String {
    if key.len() >= 4 {
        let n = u32::from_be_bytes([key[0], key[1], key[2], key[3]]) as usize;
        if let Some(name) = key.get(4..4 + n) {
            return String::from_utf8_lossy(name).into_owned();
        }
    }
    "unknown".to_string()
}

/// Host key algorithms to ask the server for, given a recorded key type.
pub fn algorithms_for(key_type: &str) -> &'static [&'static str] {
    match key_type {
        "ssh-ed25519" => &["ssh-ed25519"],
        "ecdsa-sha2-nistp256" => &["ecdsa-sha2-nistp256"],
        "ecdsa-sha2-nistp384" => &["ecdsa-sha2-nistp384"],
        "ecdsa-sha2-nistp521" => &["ecdsa-sha2-nistp521"],
        "ssh-rsa" => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
        "ssh-dss" => &["ssh-dss"],
        _ => &[],
    }
}

impl KnownHosts {
    /// Loads `path` (a missing file is an empty one).
    pub fn load(path: &Path, policy: HostKeyPolicy) -> Result<KnownHosts, ExecError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(ExecError::Other(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let mut first = fields.next().unwrap_or("");
            let mut revoked = false;
            if first.starts_with('@') {
                if first == "@revoked" {
                    revoked = true;
                } else {
                    continue; // @cert-authority: not supported, skip
                }
                first = fields.next().unwrap_or("");
            }
            let (Some(key_type), Some(b64)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Some(key) = base64_decode(b64) else {
                continue;
            };
            entries.push(Entry {
                line: i + 1,
                revoked,
                patterns: first.to_string(),
                key_type: key_type.to_string(),
                key,
            });
        }
        Ok(KnownHosts {
            path: path.to_path_buf(),
            policy,
            entries: Mutex::new(entries),
            learned: Mutex::new(BTreeMap::new()),
        })
    }

    /// What was said of `host:port`'s key when it was recorded on first
    /// use in this run, once (the next call returns `None`).
    pub fn learned(&self, host: &str, port: u16) -> Option<String> {
        self.learned.lock().unwrap().remove(&host_token(host, port))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn policy(&self) -> HostKeyPolicy {
        self.policy
    }

    /// Key types recorded for the host, to prefer them in the handshake.
    pub fn known_types(&self, host: &str, port: u16) -> Vec<String> {
        let token = host_token(host, port);
        let entries = self.entries.lock().unwrap();
        let mut out: Vec<String> = Vec::new();
        for e in entries.iter() {
            if !e.revoked && matches_patterns(&e.patterns, &token) && !out.contains(&e.key_type) {
                out.push(e.key_type.clone());
            }
        }
        out
    }

    /// Checks the key a host presented; records it when new (TOFU).
    /// `display` names the host in errors (inventory name and address).
    pub fn check(&self, host: &str, port: u16, display: &str, key: &[u8]) -> Result<(), ExecError> {
        if self.policy == HostKeyPolicy::Ignore {
            return Ok(());
        }
        let token = host_token(host, port);
        let key_type = blob_key_type(key);
        let got = fingerprint(key);
        let mut entries = self.entries.lock().unwrap();
        let mut mismatch: Option<&Entry> = None;
        for e in entries
            .iter()
            .filter(|e| matches_patterns(&e.patterns, &token))
        {
            if e.revoked {
                if e.key == key {
                    return Err(ExecError::HostKeyRevoked {
                        host: display.to_string(),
                        got,
                    });
                }
                continue;
            }
            if e.key == key {
                return Ok(());
            }
            if e.key_type == key_type && mismatch.is_none() {
                mismatch = Some(e);
            }
        }
        if let Some(e) = mismatch {
            return Err(ExecError::HostKeyChanged(Box::new(KeyChange {
                host: display.to_string(),
                entry: token.clone(),
                known_hosts: self.path.display().to_string(),
                line: e.line,
                key_type,
                expected: fingerprint(&e.key),
                got,
            })));
        }
        match self.policy {
            HostKeyPolicy::Strict => Err(ExecError::HostKeyUnknown {
                host: display.to_string(),
                known_hosts: self.path.display().to_string(),
                key_type,
                got,
            }),
            _ => {
                let line_text = format!("{token} {key_type} {}\n", base64_encode(key));
                // As ssh makes them: the file 0600, a directory made here
                // 0700 (one that exists keeps its mode).
                if let Some(dir) = self.path.parent() {
                    if !dir.as_os_str().is_empty() {
                        use std::os::unix::fs::DirBuilderExt;
                        let _ = std::fs::DirBuilder::new()
                            .recursive(true)
                            .mode(0o700)
                            .create(dir);
                    }
                }
                use std::os::unix::fs::OpenOptionsExt;
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(&self.path)
                    .map_err(|e| {
                        ExecError::Other(format!(
                            "cannot record host key in {}: {e}",
                            self.path.display()
                        ))
                    })?;
                // One write per line: appends from concurrent runs stay whole.
                f.write_all(line_text.as_bytes()).map_err(|e| {
                    ExecError::Other(format!(
                        "cannot record host key in {}: {e}",
                        self.path.display()
                    ))
                })?;
                let line = std::fs::read_to_string(&self.path)
                    .map(|t| t.lines().count())
                    .unwrap_or(0);
                self.learned.lock().unwrap().insert(
                    token.clone(),
                    format!(
                        "first seen: host key {key_type} {got} recorded in {} line {line} (compare with `ssh-keygen -lf` of the host's key)",
                        self.path.display()
                    ),
                );
                entries.push(Entry {
                    line,
                    revoked: false,
                    patterns: token,
                    key_type,
                    key: key.to_vec(),
                });
                Ok(())
            }
        }
    }
}

/// OpenSSH's pattern-list match: any positive match and no negated one.
fn matches_patterns(list: &str, token: &str) -> bool {
    if let Some(rest) = list.strip_prefix("|1|") {
        return hashed_matches(rest, token);
    }
    let mut hit = false;
    for p in list.split(',') {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, token) {
                return false;
            }
        } else if glob(p, token) {
            hit = true;
        }
    }
    hit
}

fn hashed_matches(rest: &str, token: &str) -> bool {
    let Some((salt, hash)) = rest.split_once('|') else {
        return false;
    };
    let (Some(salt), Some(hash)) = (base64_decode(salt), base64_decode(hash)) else {
        return false;
    };
    !hash.is_empty() && hmac_sha1(&salt, token.as_bytes()) == hash
}

/// OpenSSH's hashed host names are HMAC-SHA1 (openssl's).
fn hmac_sha1(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use openssl::{hash::MessageDigest, pkey::PKey, sign::Signer};
    let sign = || -> Result<Vec<u8>, openssl::error::ErrorStack> {
        let key = PKey::hmac(key)?;
        let mut signer = Signer::new(MessageDigest::sha1(), &key)?;
        signer.update(msg)?;
        signer.sign_to_vec()
    };
    // A failure matches nothing (an empty MAC is never a host's).
    sign().unwrap_or_default()
}

fn glob(pat: &str, s: &str) -> bool {
    fn rec(p: &[u8], s: &[u8]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(b'*') => (0..=s.len()).any(|i| rec(&p[1..], &s[i..])),
            Some(b'?') => !s.is_empty() && rec(&p[1..], &s[1..]),
            Some(c) => {
                s.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && rec(&p[1..], &s[1..])
            }
        }
    }
    rec(pat.as_bytes(), s.as_bytes())
}

pub fn base64_encode(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Padded or not, as known_hosts files hold both.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let s = s.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for n in 0..20 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }

    #[test]
    fn patterns() {
        assert!(matches_patterns("a,b,[c]:2222", "[c]:2222"));
        assert!(!matches_patterns("a,b", "c"));
        assert!(matches_patterns("10.0.0.*", "10.0.0.7"));
        assert!(!matches_patterns("10.0.0.*,!10.0.0.7", "10.0.0.7"));
    }

    #[test]
    fn hashed_host() {
        // ssh-keygen -H of "localhost" with a fixed salt, computed with the
        // same HMAC-SHA1 OpenSSH uses.
        let salt = [7u8; 20];
        let hash = hmac_sha1(&salt, b"localhost");
        let entry = format!("{}|{}", base64_encode(&salt), base64_encode(&hash));
        assert!(hashed_matches(&entry, "localhost"));
        assert!(!hashed_matches(&entry, "otherhost"));
    }

    #[test]
    fn hmac_sha1_rfc2202() {
        let mac = hmac_sha1(b"key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(hex::encode(mac), "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
    }

    #[test]
    fn a_new_known_hosts_is_private_as_ssh_makes_it() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh").join("known_hosts");
        let key = [&[0, 0, 0, 11][..], b"ssh-ed25519", &[1, 2, 3]].concat();
        let kh = KnownHosts::load(&path, HostKeyPolicy::TrustOnFirstUse).unwrap();
        kh.check("h", 22, "node1", &key).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }

    #[test]
    fn tofu_then_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let key_a = [&[0, 0, 0, 11][..], b"ssh-ed25519", &[1, 2, 3]].concat();
        let key_b = [&[0, 0, 0, 11][..], b"ssh-ed25519", &[4, 5, 6]].concat();
        let kh = KnownHosts::load(&path, HostKeyPolicy::TrustOnFirstUse).unwrap();
        kh.check("h", 2222, "node1", &key_a).unwrap();
        let said = kh.learned("h", 2222).expect("a first-seen key is told");
        assert!(said.contains(&fingerprint(&key_a)), "{said}");
        assert_eq!(kh.learned("h", 2222), None, "told once");
        kh.check("h", 2222, "node1", &key_a).unwrap();
        assert_eq!(kh.learned("h", 2222), None, "a known key is not news");
        let kh = KnownHosts::load(&path, HostKeyPolicy::Strict).unwrap();
        kh.check("h", 2222, "node1", &key_a).unwrap();
        let err = kh.check("h", 2222, "node1", &key_b).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("node1")
                && msg.contains(&fingerprint(&key_a))
                && msg.contains(&fingerprint(&key_b)),
            "{msg}"
        );
        // The hint names the entry as stored, and the file.
        assert!(
            msg.contains(&format!("ssh-keygen -R '[h]:2222' -f {}", path.display())),
            "{msg}"
        );
        assert!(matches!(
            kh.check("other", 22, "x", &key_a),
            Err(ExecError::HostKeyUnknown { .. })
        ));
    }
}
