//! Pushing the bundle's image tarballs (OCI layout, as `bundle build` and
//! `scripts/kube/oci-image.sh` write them) into a registry through the
//! distribution API v2: each blob the registry lacks (a `HEAD` says), then
//! the manifest under its tag. The install's local registry is filled this
//! way, over TLS checked against the CA the install made for it.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// One image of a tarball: its reference as pulled upstream, and its
/// manifest as the tarball holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub reference: String,
    pub media_type: String,
    pub manifest: Vec<u8>,
    /// `sha256:<hex>` of `manifest`.
    pub digest: String,
    /// The config's and the layers' digests, the blobs to push.
    pub blobs: Vec<String>,
}

/// A registry at `https://<endpoint>`, with the CA its certificate must
/// chain to and, for writes, a user and password.
pub struct Registry {
    base: String,
    agent: ureq::Agent,
    auth: Option<String>,
}

fn entry_name(e: &tar::Entry<'_, impl Read>) -> Option<String> {
    let p = e.path().ok()?;
    Some(p.to_string_lossy().trim_start_matches("./").to_string())
}

/// Reads the tarball's `index.json` and the manifest it names, in one pass
/// (the index comes after the blobs in a sorted tarball, so the small blobs
/// are kept as the pass goes: a manifest is a few KB); the layers stay in
/// the file until they are pushed.
pub fn read_image(path: &Path) -> Result<Image, String> {
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    let f = std::fs::File::open(path).map_err(err)?;
    let mut archive = tar::Archive::new(f);
    let (mut index, mut small) = (None, std::collections::BTreeMap::new());
    for e in archive.entries().map_err(err)? {
        let mut e = e.map_err(err)?;
        let name = entry_name(&e).unwrap_or_default();
        let keep =
            name == "index.json" || (name.starts_with("blobs/sha256/") && e.size() <= 1 << 20);
        if !keep {
            continue;
        }
        let mut t = Vec::new();
        e.read_to_end(&mut t).map_err(err)?;
        match name.as_str() {
            "index.json" => index = Some(t),
            _ => {
                small.insert(name, t);
            }
        }
    }
    let index = index.ok_or_else(|| {
        format!("{}: no index.json: not an OCI-layout image (save it with Docker 25 or later, or let `bundle build` pull it)", path.display())
    })?;
    let index: serde_json::Value = serde_json::from_slice(&index)
        .map_err(|e| format!("{}: index.json: {e}", path.display()))?;
    let m = &index["manifests"][0];
    let digest = m["digest"].as_str().unwrap_or_default().to_string();
    let reference = (m["annotations"]["io.containerd.image.name"].as_str())
        .ok_or_else(|| {
            format!(
                "{}: index.json names no image (io.containerd.image.name)",
                path.display()
            )
        })?
        .to_string();
    let want = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let manifest = small
        .remove(&want)
        .ok_or_else(|| format!("{}: {want} is missing", path.display()))?;
    if format!("sha256:{}", hex::encode(Sha256::digest(&manifest))) != digest {
        return Err(format!(
            "{}: {want} does not match its digest",
            path.display()
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&manifest)
        .map_err(|e| format!("{}: the manifest: {e}", path.display()))?;
    let media_type = (v["mediaType"].as_str())
        .or(m["mediaType"].as_str())
        .unwrap_or("application/vnd.oci.image.manifest.v1+json")
        .to_string();
    let blobs = std::iter::once(&v["config"])
        .chain(v["layers"].as_array().into_iter().flatten())
        .filter_map(|b| b["digest"].as_str().map(str::to_string))
        .collect();
    Ok(Image {
        reference,
        media_type,
        manifest,
        digest,
        blobs,
    })
}

/// `repository` and `tag` of a local reference (`10.0.0.5:5000/pause:3.10`).
fn repo_tag(local: &str) -> Result<(&str, &str), String> {
    let (_, path) = local
        .split_once('/')
        .ok_or_else(|| format!("{local}: no repository"))?;
    path.rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .ok_or_else(|| format!("{local}: no tag"))
}

/// What the registry's certificate is checked against, or plain HTTP.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// Only this CA (PEM).
    Ca(&'a str),
    /// This machine's trust store (Debian's `ca-certificates` bundle).
    System,
    /// No TLS at all: the operator's explicit opt-in.
    PlainHttp,
}

impl<'a> Trust<'a> {
    /// Plain HTTP when asked, else the given CA, else this machine's.
    pub fn of(ca_pem: Option<&'a str>, insecure: bool) -> Trust<'a> {
        match (ca_pem, insecure) {
            (_, true) => Trust::PlainHttp,
            (Some(pem), false) => Trust::Ca(pem),
            (None, false) => Trust::System,
        }
    }
}

/// This machine's trusted CAs, as Debian's `ca-certificates` gathers them.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

fn roots(trust: Trust) -> Result<rustls::RootCertStore, String> {
    let pem = match trust {
        Trust::Ca(pem) => pem.to_string(),
        Trust::System => std::fs::read_to_string(SYSTEM_CAS).map_err(|e| {
            format!("this machine's CAs ({SYSTEM_CAS}): {e}; give the registry's CA instead")
        })?,
        Trust::PlainHttp => String::new(),
    };
    let mut roots = rustls::RootCertStore::empty();
    if pem.is_empty() {
        return Ok(roots);
    }
    let certs = openssl::x509::X509::stack_from_pem(pem.as_bytes())
        .map_err(|e| format!("the registry's CA: {e}"))?;
    for c in certs {
        let der = c.to_der().map_err(|e| format!("the registry's CA: {e}"))?;
        roots
            .add(rustls::pki_types::CertificateDer::from(der))
            .map_err(|e| format!("the registry's CA: {e}"))?;
    }
    Ok(roots)
}

impl Registry {
    /// `ca_pem`: the only CA its certificate may chain to.
    pub fn new(endpoint: &str, ca_pem: &str) -> Result<Registry, String> {
        Registry::connect(endpoint, Trust::Ca(ca_pem))
    }

    /// The registry at `endpoint`, reached as `trust` says.
    pub fn connect(endpoint: &str, trust: Trust) -> Result<Registry, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots(trust)?)
            .with_no_client_auth();
        let agent = ureq::AgentBuilder::new()
            .tls_config(Arc::new(tls))
            .timeout_connect(std::time::Duration::from_secs(10))
            .timeout_read(std::time::Duration::from_secs(120))
            .build();
        let scheme = match trust {
            Trust::PlainHttp => "http",
            _ => "https",
        };
        Ok(Registry {
            base: format!("{scheme}://{endpoint}"),
            agent,
            auth: None,
        })
    }

    /// Writes need the push's password (HTTP basic, over the TLS above).
    pub fn with_login(mut self, user: &str, password: &str) -> Registry {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.auth = Some(format!("Basic {token}"));
        self
    }

    fn request(&self, method: &str, url: &str) -> ureq::Request {
        let r = self.agent.request(method, url);
        match &self.auth {
            Some(a) => r.set("Authorization", a),
            None => r,
        }
    }

    /// Whether the registry holds `image` under `local` with the same digest.
    pub fn has(&self, local: &str, image: &Image) -> Result<bool, String> {
        let (repo, tag) = repo_tag(local)?;
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.base);
        match self
            .request("HEAD", &url)
            .set("Accept", &image.media_type)
            .call()
        {
            Ok(r) => Ok(r.header("Docker-Content-Digest") == Some(image.digest.as_str())),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(e) => Err(format!("HEAD {url}: {e}")),
        }
    }

    /// Whether the registry holds any image under `local` (a read: what
    /// the nodes will pull, whichever digest it has).
    pub fn has_tag(&self, local: &str) -> Result<bool, String> {
        let (repo, tag) = repo_tag(local)?;
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.base);
        let accept = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
        match self.request("HEAD", &url).set("Accept", accept).call() {
            Ok(_) => Ok(true),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(e) => Err(format!("HEAD {url}: {}", status_text(e))),
        }
    }

    fn has_blob(&self, repo: &str, digest: &str) -> Result<bool, String> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        match self.request("HEAD", &url).call() {
            Ok(_) => Ok(true),
            Err(ureq::Error::Status(404, _)) => Ok(false),
            Err(e) => Err(format!("HEAD {url}: {e}")),
        }
    }

    /// Pushes the tarball at `path` (read as `image`) as `local`: the blobs
    /// the registry lacks, each streamed from the tarball with its length,
    /// then the manifest. Returns how many bytes went over.
    pub fn push(&self, path: &Path, image: &Image, local: &str) -> Result<u64, String> {
        let (repo, tag) = repo_tag(local)?;
        let mut missing = Vec::new();
        for d in &image.blobs {
            if !self.has_blob(repo, d)? && !missing.contains(d) {
                missing.push(d.clone());
            }
        }
        let mut sent = 0;
        if !missing.is_empty() {
            let err = |e: std::io::Error| format!("{}: {e}", path.display());
            let f = std::fs::File::open(path).map_err(err)?;
            let mut archive = tar::Archive::new(f);
            for e in archive.entries().map_err(err)? {
                let e = e.map_err(err)?;
                let Some(name) = entry_name(&e) else { continue };
                let Some(hex) = name.strip_prefix("blobs/sha256/") else {
                    continue;
                };
                let digest = format!("sha256:{hex}");
                if let Some(i) = missing.iter().position(|d| *d == digest) {
                    missing.remove(i);
                    let size = e.size();
                    sent += size;
                    self.upload(repo, &digest, size, e)?;
                }
            }
            if let Some(d) = missing.first() {
                return Err(format!("{}: blob {d} is missing", path.display()));
            }
        }
        let url = format!("{}/v2/{repo}/manifests/{tag}", self.base);
        self.request("PUT", &url)
            .set("Content-Type", &image.media_type)
            .send_bytes(&image.manifest)
            .map_err(|e| format!("PUT {url}: {}", status_text(e)))?;
        Ok(sent + image.manifest.len() as u64)
    }

    /// One blob: an upload session, then its whole content in one `PUT`
    /// that names the digest (the registry checks it).
    fn upload(&self, repo: &str, digest: &str, size: u64, body: impl Read) -> Result<(), String> {
        let start = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let r = self
            .request("POST", &start)
            .send_bytes(&[])
            .map_err(|e| format!("POST {start}: {}", status_text(e)))?;
        let location = r
            .header("Location")
            .ok_or_else(|| format!("POST {start}: no Location"))?;
        let mut url = match location.starts_with('/') {
            true => format!("{}{location}", self.base),
            false => location.to_string(),
        };
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={digest}"));
        self.request("PUT", &url)
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &size.to_string())
            .send(body)
            .map_err(|e| format!("PUT blob {digest}: {}", status_text(e)))?;
        Ok(())
    }
}

/// A registry to fill from a bundle (`ksinstall bundle push`).
pub struct Target {
    pub endpoint: String,
    pub ca_file: Option<std::path::PathBuf>,
    pub insecure: bool,
    /// The user, and the file holding the password.
    pub login: Option<(String, std::path::PathBuf)>,
}

/// The first line of the password file; a warning when others can read it.
fn password(file: &Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let err = |e: std::io::Error| format!("{}: {e}", file.display());
    if std::fs::metadata(file).map_err(err)?.mode() & 0o077 != 0 {
        log::warn!("{}: others can read it; chmod 600 it", file.display());
    }
    let text = std::fs::read_to_string(file).map_err(err)?;
    let line = text.lines().next().unwrap_or("").to_string();
    match line.is_empty() {
        true => Err(format!("{}: no password on its first line", file.display())),
        false => Ok(line),
    }
}

/// Pushes every image of the bundle at `dir` that `t` lacks (same digest
/// under the same path), and says what it did.
pub fn push_bundle(dir: &Path, t: &Target) -> Result<(), String> {
    let m = super::manifest::Manifest::read(dir)?;
    let ca = match &t.ca_file {
        Some(f) => Some(std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?),
        None => None,
    };
    let mut reg = Registry::connect(&t.endpoint, Trust::of(ca.as_deref(), t.insecure))?;
    if let Some((user, file)) = &t.login {
        if t.insecure {
            log::warn!("the password goes to {} over plain HTTP", t.endpoint);
        }
        reg = reg.with_login(user, &password(file)?);
    }
    let (mut pushed, mut held, mut bytes) = (0, 0, 0);
    let images = m
        .artifacts
        .iter()
        .filter(|a| a.kind == super::needs::Kind::Image);
    for a in images {
        let path = dir.join(&a.path);
        let image = read_image(&path)?;
        let local = crate::model::registry::local_ref(&t.endpoint, &image.reference);
        if reg.has(&local, &image)? {
            held += 1;
            continue;
        }
        bytes += reg
            .push(&path, &image, &local)
            .map_err(|e| format!("pushing {local}: {e}"))?;
        println!("pushed {local}");
        pushed += 1;
    }
    match pushed {
        0 => println!(
            "registry {}: holds every image of the bundle ({held})",
            t.endpoint
        ),
        n => println!(
            "registry {}: pushed {n} image(s), {} MB; {held} held already",
            t.endpoint,
            bytes / 1_000_000
        ),
    }
    Ok(())
}

/// The registry's own words on a refused request, not just its status.
fn status_text(e: ureq::Error) -> String {
    match e {
        ureq::Error::Status(code, r) => {
            let body = r.into_string().unwrap_or_default();
            format!(
                "{code}: {}",
                body.trim().chars().take(300).collect::<String>()
            )
        }
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_references_split() {
        assert_eq!(
            repo_tag("10.0.0.5:5000/coredns/coredns:v1.12.1").unwrap(),
            ("coredns/coredns", "v1.12.1")
        );
        assert!(repo_tag("10.0.0.5:5000/pause").is_err());
    }
}
