//! Pulling an image from a registry (Docker Registry HTTP API v2 / OCI
//! distribution) into an OCI-layout tarball, for `bundle build --download`.
//!
//! Anonymous bearer tokens are fetched when the registry asks for them
//! (`401` + `WWW-Authenticate: Bearer realm=...`); a manifest list / image
//! index is narrowed to `linux/<arch>`; every blob is checked against its
//! digest. The tarball keeps the registry's bytes unchanged (`blobs/sha256/...`)
//! and names the image in `index.json` (`io.containerd.image.name`,
//! `org.opencontainers.image.ref.name`), which `ctr images import` reads;
//! docker-archive's `manifest.json` beside it is what `docker load` reads.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::fetch::Http;
use super::hash;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// `(registry, repository, tag)`; Docker Hub names get `library/`.
pub fn split_ref(reference: &str) -> (String, String, String) {
    let (name, tag) = match reference.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (reference, "latest"),
    };
    let first = name.split('/').next().unwrap_or("");
    let (registry, repo) = if name.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        let (r, p) = name.split_once('/').unwrap();
        (r.to_string(), p.to_string())
    } else {
        ("docker.io".to_string(), name.to_string())
    };
    let repo = if registry == "docker.io" && !repo.contains('/') {
        format!("library/{repo}")
    } else {
        repo
    };
    (registry, repo, tag.to_string())
}

/// The API base of a registry host, unless a mirror replaces it.
pub fn default_base(registry: &str) -> String {
    match registry {
        "docker.io" => "https://registry-1.docker.io".into(),
        r => format!("https://{r}"),
    }
}

struct Session<'a> {
    http: &'a Http,
    token: Option<String>,
}

impl Session<'_> {
    /// GET with the registry's token dance; the response body and content type.
    fn get(&mut self, url: &str, accept: &str) -> Result<ureq::Response, String> {
        let mut tried_auth = false;
        loop {
            let mut headers = vec![("Accept", accept.to_string())];
            if let Some(t) = &self.token {
                headers.push(("Authorization", format!("Bearer {t}")));
            }
            match self.http.request(url, &headers) {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(401, r)) if !tried_auth => {
                    let challenge = r.header("www-authenticate").unwrap_or("").to_string();
                    self.token = Some(self.fetch_token(&challenge, url)?);
                    tried_auth = true;
                }
                Err(ureq::Error::Status(code, r)) => {
                    return Err(format!("GET {url}: HTTP {code} {}", r.status_text()))
                }
                Err(ureq::Error::Transport(t)) => return Err(format!("GET {url}: {t}")),
            }
        }
    }

    fn fetch_token(&self, challenge: &str, url: &str) -> Result<String, String> {
        let Some(params) = challenge.trim().strip_prefix("Bearer ") else {
            return Err(format!(
                "GET {url}: HTTP 401 and no bearer challenge ({challenge:?}); private registries need credentials, which --download does not take: save the image into --from instead"
            ));
        };
        let mut realm = None;
        let mut query = Vec::new();
        for (k, v) in parse_challenge(params) {
            if k == "realm" {
                realm = Some(v);
            } else {
                query.push(format!("{k}={}", encode(&v)));
            }
        }
        let realm = realm.ok_or_else(|| format!("GET {url}: bearer challenge without realm"))?;
        let token_url = if query.is_empty() {
            realm
        } else {
            format!("{realm}?{}", query.join("&"))
        };
        let body = self
            .http
            .request(&token_url, &[])
            .map_err(|e| format!("token from {token_url}: {e}"))?
            .into_string()
            .map_err(|e| format!("token from {token_url}: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| format!("token from {token_url}: {e}"))?;
        v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("token from {token_url}: no token in the answer"))
    }
}

fn parse_challenge(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (q[..end].to_string(), &q[end + 1..]),
                None => (q.to_string(), ""),
            }
        } else {
            match after.find(',') {
                Some(c) => (after[..c].trim().to_string(), &after[c..]),
                None => (after.trim().to_string(), ""),
            }
        };
        out.push((key, val));
        rest = next;
    }
    out
}

/// A query value, percent-encoded but for what a scope or a service name
/// holds plainly (`repository:library/x:pull`).
fn encode(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    const KEEP: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b':')
        .remove(b'/');
    utf8_percent_encode(s, KEEP).to_string()
}

fn read_all(r: ureq::Response, url: &str) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    r.into_reader()
        .take(64 << 20)
        .read_to_end(&mut buf)
        .map_err(|e| format!("GET {url}: {e}"))?;
    Ok(buf)
}

/// The hex of a `sha256:` digest, only when it is 64 lowercase hex digits:
/// a blob's file name comes from it, so nothing else may pass (an absolute
/// path or `..` would land outside the scratch directory).
pub fn sha256_hex(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// Streams a blob into `<path>.partial`, renamed to `path` only when its
/// sha256 is `hex`; on every error the partial file is removed.
fn fetch_blob(s: &mut Session, url: &str, path: &Path, hex: &str) -> Result<(), String> {
    let part = path.with_extension("partial");
    let result = (|| {
        let resp = s.get(url, "*/*")?;
        let mut r = resp.into_reader();
        let mut f = std::fs::File::create(&part).map_err(|e| format!("{}: {e}", part.display()))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = r.read(&mut buf).map_err(|e| format!("GET {url}: {e}"))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            f.write_all(&buf[..n])
                .map_err(|e| format!("{}: {e}", part.display()))?;
        }
        let have = hash::hex(&h.finalize());
        if have != hex {
            return Err(format!("{url}: digest mismatch: content is sha256:{have}"));
        }
        std::fs::rename(&part, path).map_err(|e| format!("{}: {e}", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

fn check_digest(bytes: &[u8], digest: &str, what: &str) -> Result<(), String> {
    let have = format!("sha256:{}", hash::sha256_bytes(bytes));
    if have == digest {
        Ok(())
    } else {
        Err(format!(
            "{what}: digest mismatch: registry said {digest}, content is {have}"
        ))
    }
}

/// Pulls `reference` for `linux/<arch>` from the manifest address
/// `<base>/v2/<repo>/manifests/<tag>` into an OCI-layout tarball at `dest`.
/// Returns the tarball's SHA-256 and size.
pub fn pull(
    http: &Http,
    manifest_url: &str,
    reference: &str,
    arch: &str,
    dest: &Path,
) -> Result<(String, u64), String> {
    let mut s = Session { http, token: None };
    let api = manifest_url
        .rsplit_once("/manifests/")
        .map(|(a, _)| a.to_string())
        .ok_or_else(|| format!("{manifest_url}: not a /v2/<name>/manifests/<tag> address"))?;
    let resp = s.get(manifest_url, ACCEPT)?;
    let mut media = resp.content_type().to_string();
    let mut body = read_all(resp, manifest_url)?;
    let mut v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("GET {manifest_url}: manifest is not JSON: {e}"))?;
    if v["manifests"].is_array() {
        let pick = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["platform"]["os"] == "linux" && m["platform"]["architecture"] == arch)
            .ok_or_else(|| format!("{reference}: no linux/{arch} image in its manifest list"))?;
        let digest = pick["digest"].as_str().unwrap_or_default().to_string();
        sha256_hex(&digest)
            .ok_or_else(|| format!("{reference}: unsupported manifest digest {digest:?}"))?;
        let url = format!("{api}/manifests/{digest}");
        let resp = s.get(&url, ACCEPT)?;
        media = resp.content_type().to_string();
        body = read_all(resp, &url)?;
        check_digest(&body, &digest, &url)?;
        v = serde_json::from_slice(&body)
            .map_err(|e| format!("GET {url}: manifest is not JSON: {e}"))?;
    }
    if v["schemaVersion"] != 2 || !v["config"].is_object() {
        return Err(format!(
            "{reference}: unsupported manifest (schema 1 or unknown); save it with docker save into --from"
        ));
    }
    if let Some(m) = v["mediaType"].as_str() {
        media = m.to_string();
    }
    let manifest_digest = format!("sha256:{}", hash::sha256_bytes(&body));
    let mut blobs: Vec<String> = vec![v["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string()];
    for l in v["layers"].as_array().into_iter().flatten() {
        blobs.push(l["digest"].as_str().unwrap_or_default().to_string());
    }

    // Blobs to a scratch directory beside dest, each checked, then one tar.
    let scratch = PathBuf::from(format!("{}.blobs", dest.display()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    let result = (|| {
        for d in &blobs {
            let hex = sha256_hex(d)
                .ok_or_else(|| format!("{reference}: unsupported blob digest {d:?}"))?;
            let path = scratch.join(hex);
            if path.is_file()
                && hash::file_sha256(&path)
                    .map(|(h, _)| h == hex)
                    .unwrap_or(false)
            {
                continue;
            }
            fetch_blob(&mut s, &format!("{api}/blobs/{d}"), &path, hex)?;
        }
        write_oci_tar(
            dest,
            reference,
            &media,
            &manifest_digest,
            &body,
            &scratch,
            &blobs,
        )
    })();
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    result?;
    hash::file_sha256(dest).map_err(|e| format!("{}: {e}", dest.display()))
}

fn write_oci_tar(
    dest: &Path,
    reference: &str,
    media: &str,
    manifest_digest: &str,
    manifest: &[u8],
    scratch: &Path,
    blobs: &[String],
) -> Result<(), String> {
    let tag = reference
        .rsplit_once(':')
        .map(|(_, t)| t)
        .unwrap_or("latest");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": media,
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {
                "io.containerd.image.name": reference,
                "org.opencontainers.image.ref.name": tag,
            }
        }]
    });
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let err = |e: std::io::Error| format!("{}: {e}", part.display());
    let f = std::fs::File::create(&part).map_err(err)?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(f));
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data)
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(err)?;
    add("index.json", index.to_string().as_bytes()).map_err(err)?;
    let mhex = manifest_digest.trim_start_matches("sha256:");
    add(&format!("blobs/sha256/{mhex}"), manifest).map_err(err)?;
    // docker-archive's index beside the OCI one: `docker load` before
    // Docker 25 reads only this (a docker-runtime cluster loads with it).
    let path = |d: &String| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let docker = serde_json::json!([{
        "Config": blobs.first().map(path),
        "RepoTags": [reference],
        "Layers": blobs.iter().skip(1).map(path).collect::<Vec<_>>(),
    }]);
    add("manifest.json", docker.to_string().as_bytes()).map_err(err)?;
    let mut done = std::collections::BTreeSet::new();
    for d in blobs {
        let hex = d.trim_start_matches("sha256:");
        if !done.insert(hex.to_string()) {
            continue;
        }
        let mut f = std::fs::File::open(scratch.join(hex)).map_err(err)?;
        tar.append_file(format!("blobs/sha256/{hex}"), &mut f)
            .map_err(err)?;
    }
    tar.into_inner()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(err)?;
    std::fs::rename(&part, dest).map_err(|e| format!("{}: {e}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_sha256_digests_name_files() {
        let ok = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert_eq!(sha256_hex(&ok), Some(&ok[7..]));
        for bad in [
            format!("sha256:/{}", "a".repeat(63)),
            format!("sha256:../{}", "a".repeat(61)),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha512:{}", "a".repeat(64)),
        ] {
            assert_eq!(sha256_hex(&bad), None, "{bad}");
        }
    }

    #[test]
    fn references() {
        let t = |r: &str| {
            let (a, b, c) = split_ref(r);
            format!("{a} {b} {c}")
        };
        assert_eq!(
            t("docker.io/calico/node:v3.8.4"),
            "docker.io calico/node v3.8.4"
        );
        assert_eq!(
            t("docker.io/library/registry:2"),
            "docker.io library/registry 2"
        );
        assert_eq!(t("registry:2"), "docker.io library/registry 2");
        assert_eq!(t("k8s.gcr.io/pause:3.1"), "k8s.gcr.io pause 3.1");
        assert_eq!(t("localhost:5000/a/b"), "localhost:5000 a/b latest");
    }

    #[test]
    fn challenges() {
        let c = parse_challenge(
            r#"realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/registry:pull""#,
        );
        assert_eq!(
            c[0],
            ("realm".into(), "https://auth.docker.io/token".into())
        );
        assert_eq!(c[2].1, "repository:library/registry:pull");
        assert_eq!(encode("repository:a/b:pull"), "repository:a/b:pull");
        assert_eq!(encode("a b"), "a%20b");
    }
}
