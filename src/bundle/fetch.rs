//! Downloads for `bundle build --download`, and only for it: an install never
//! downloads. Binaries come over HTTP(S) (ureq: blocking, small, rustls so
//! no OpenSSL on the build machine), checked against the published SHA-256
//! when the table names one; Debian packages come from the build machine's
//! own apt (`apt-get download`), with their dependencies.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::hash;

pub struct Http {
    agent: ureq::Agent,
    retries: u32,
}

/// What one download gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub sha256: String,
    pub size: u64,
    /// The published checksum file could not be had (404): the digest was
    /// only recorded, not checked.
    pub unverified: Option<String>,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        Http {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(15))
                .timeout_read(Duration::from_secs(60))
                .user_agent(concat!("ksinstall/", env!("CARGO_PKG_VERSION")))
                .build(),
            retries: 2,
        }
    }

    /// One GET with extra headers, no retries (the registry client's building
    /// block). The error is ureq's own: the caller needs the response of a 401.
    #[allow(clippy::result_large_err)]
    pub fn request(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<ureq::Response, ureq::Error> {
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        req.call()
    }

    /// GET with retries on transport errors and 5xx; 4xx fails at once.
    fn get(&self, url: &str) -> Result<ureq::Response, String> {
        let mut attempt = 0;
        loop {
            match self.agent.get(url).call() {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(code, r)) if code < 500 || attempt >= self.retries => {
                    return Err(format!("GET {url}: HTTP {code} {}", r.status_text()))
                }
                Err(ureq::Error::Transport(t)) if attempt >= self.retries => {
                    return Err(format!("GET {url}: {t}"))
                }
                Err(_) => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
                }
            }
        }
    }

    /// The published SHA-256 at `url`; `Ok(None)` when the server has no such file (404).
    pub fn published_sha256(&self, url: &str, file: &str) -> Result<Option<String>, String> {
        match self.agent.get(url).call() {
            Err(ureq::Error::Status(404, _)) => Ok(None),
            _ => {
                let text = self
                    .get(url)?
                    .into_string()
                    .map_err(|e| format!("GET {url}: {e}"))?;
                hash::parse_sha256_text(&text, file)
                    .map(Some)
                    .ok_or_else(|| format!("GET {url}: no SHA-256 of {file} in the checksum file"))
            }
        }
    }

    /// Downloads `url` to `dest` (through `dest.part`, renamed only when
    /// complete and checked). With `sha256_url`, the digest must match the
    /// published one; a mismatch leaves nothing behind.
    pub fn download(
        &self,
        url: &str,
        sha256_url: Option<&str>,
        dest: &Path,
    ) -> Result<Fetched, String> {
        let expected = match sha256_url {
            Some(u) => {
                let file = url.rsplit('/').next().unwrap_or(url);
                Some(self.published_sha256(u, file)?)
            }
            None => None,
        };
        let part = part_path(dest);
        let resp = self.get(url)?;
        let mut reader = resp.into_reader();
        let mut out =
            std::fs::File::create(&part).map_err(|e| format!("{}: {e}", part.display()))?;
        let mut h = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 16];
        let res: Result<(), String> = loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    h.update(&buf[..n]);
                    size += n as u64;
                    if let Err(e) = out.write_all(&buf[..n]) {
                        break Err(format!("{}: {e}", part.display()));
                    }
                }
                Err(e) => break Err(format!("GET {url}: transfer broke after {size} bytes: {e}")),
            }
        };
        drop(out);
        let sha256 = hash::hex(&h.finalize());
        let checked = res.and_then(|()| match &expected {
            Some(Some(want)) if *want != sha256 => Err(format!(
                "sha256 mismatch for {url}: downloaded {sha256} ({size} bytes), {} publishes {want}",
                sha256_url.unwrap_or("")
            )),
            _ => Ok(()),
        });
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        std::fs::rename(&part, dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        Ok(Fetched {
            sha256,
            size,
            unverified: match (expected, sha256_url) {
                (Some(None), Some(u)) => Some(format!(
                    "{url}: no published checksum ({u} is 404); digest recorded, not checked"
                )),
                (None, None) => Some(format!(
                    "{url}: upstream publishes no checksum; digest recorded, not checked"
                )),
                _ => None,
            },
        })
    }
}

fn part_path(dest: &Path) -> PathBuf {
    let mut s = dest.as_os_str().to_owned();
    s.push(".part");
    PathBuf::from(s)
}

/// The packages and everything they depend on (Depends, Pre-Depends), as
/// the build machine's apt resolves them: `apt-cache depends --recurse`.
pub fn apt_closure(packages: &[String]) -> Result<Vec<String>, String> {
    let out = Command::new("apt-cache")
        .args([
            "depends",
            "--recurse",
            "--no-recommends",
            "--no-suggests",
            "--no-conflicts",
            "--no-breaks",
            "--no-replaces",
            "--no-enhances",
        ])
        .args(packages)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("apt-cache: {e} (downloading packages needs a Debian/Ubuntu build machine with apt)"))?;
    if !out.status.success() {
        return Err(format!(
            "apt-cache depends failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with('<') && !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// `apt-get download` of `packages` (and, with `with_deps`, their
/// dependency closure) into `dir`. Names apt has no candidate for (virtual
/// packages, other alternatives) are left out and returned.
pub fn apt_download(
    packages: &[String],
    with_deps: bool,
    dir: &Path,
) -> Result<Vec<String>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names = if with_deps {
        apt_closure(packages)?
    } else {
        packages.to_vec()
    };
    let mut skipped = Vec::new();
    for _ in 0..3 {
        let out = Command::new("apt-get")
            .arg("download")
            .args(&names)
            .current_dir(dir)
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| format!("apt-get: {e}"))?;
        if out.status.success() {
            return Ok(skipped);
        }
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        // "E: Can't select candidate version from package X as it has no candidate"
        let bad: Vec<String> = err
            .lines()
            .filter_map(|l| {
                l.strip_prefix("E: Can't select candidate version from package ")
                    .and_then(|r| r.split_whitespace().next())
                    .map(str::to_string)
            })
            .filter(|n| !packages.contains(n))
            .collect();
        if bad.is_empty() {
            return Err(format!(
                "apt-get download {}: {}",
                names.join(" "),
                err.lines()
                    .filter(|l| l.starts_with("E:"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        names.retain(|n| !bad.contains(n));
        skipped.extend(bad);
    }
    Err("apt-get download kept failing".into())
}
