//! Checks that a file is what its name says: a binary is an ELF executable,
//! a release tarball is gzip, an image tarball is a docker-archive or an OCI
//! layout holding the expected reference. An HTML error page saved under a
//! binary's name is caught here, not on a host.

use std::io::{BufReader, Read};
use std::path::Path;

const ELF: &[u8] = b"\x7fELF";
const GZIP: &[u8] = b"\x1f\x8b";

fn head(path: &Path, n: usize) -> Result<Vec<u8>, String> {
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match f.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

fn shown(bytes: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(&bytes[..bytes.len().min(24)])
        .chars()
        .map(|c| if c.is_control() { '.' } else { c })
        .collect();
    format!("{s:?}")
}

/// A binary artifact: `.tar.gz`/`.tgz` must be gzip, anything else ELF.
pub fn check_binary(path: &Path, file_name: &str) -> Result<(), String> {
    let h = head(path, 24)?;
    let (want, what) = if file_name.ends_with(".tar.gz") || file_name.ends_with(".tgz") {
        (GZIP, "a gzip archive")
    } else {
        (ELF, "an ELF executable")
    };
    if h.starts_with(want) {
        Ok(())
    } else {
        Err(format!(
            "{} is not {what} (it starts with {})",
            path.display(),
            shown(&h)
        ))
    }
}

/// `docker.io/library/x:t` for `x:t`, `docker.io/a/b:t` for `a/b:t`.
pub fn normalize_ref(r: &str) -> String {
    let r = r.trim();
    let first = r.split('/').next().unwrap_or("");
    let has_registry =
        r.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        r.to_string()
    } else {
        format!("docker.io/{r}")
    };
    match full.strip_prefix("docker.io/") {
        Some(rest) if !rest.contains('/') => format!("docker.io/library/{rest}"),
        _ => full,
    }
}

/// The image names a tarball carries: docker-archive `RepoTags`, or OCI
/// `index.json` annotations. Err when it is neither format.
pub fn image_refs(path: &Path) -> Result<Vec<String>, String> {
    let is_gz = head(path, 2)?.starts_with(GZIP);
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader: Box<dyn Read> = if is_gz {
        Box::new(flate2::read::GzDecoder::new(BufReader::new(f)))
    } else {
        Box::new(BufReader::new(f))
    };
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| format!("{}: not a tar archive: {e}", path.display()))?;
    let (mut manifest, mut index, mut oci_layout) = (None, None, false);
    for e in entries {
        let mut e = e.map_err(|e| format!("{}: not a tar archive: {e}", path.display()))?;
        let name = e
            .path()
            .map(|p| p.to_string_lossy().trim_start_matches("./").to_string())
            .unwrap_or_default();
        let mut read = || {
            let mut s = String::new();
            e.read_to_string(&mut s).map(|_| s)
        };
        match name.as_str() {
            "manifest.json" => manifest = read().ok(),
            "index.json" => index = read().ok(),
            "oci-layout" => oci_layout = true,
            _ => {}
        }
    }
    let mut refs = Vec::new();
    if let Some(m) = manifest {
        let v: serde_json::Value = serde_json::from_str(&m)
            .map_err(|e| format!("{}: manifest.json: {e}", path.display()))?;
        for img in v.as_array().into_iter().flatten() {
            for t in img["RepoTags"].as_array().into_iter().flatten() {
                if let Some(t) = t.as_str() {
                    refs.push(t.to_string());
                }
            }
        }
        return Ok(refs);
    }
    if let (Some(i), true) = (index, oci_layout) {
        let v: serde_json::Value =
            serde_json::from_str(&i).map_err(|e| format!("{}: index.json: {e}", path.display()))?;
        for m in v["manifests"].as_array().into_iter().flatten() {
            for key in [
                "io.containerd.image.name",
                "org.opencontainers.image.ref.name",
            ] {
                if let Some(r) = m["annotations"][key].as_str() {
                    refs.push(r.to_string());
                }
            }
        }
        return Ok(refs);
    }
    Err(format!(
        "{} is neither a docker-archive (docker save) nor an OCI layout tarball",
        path.display()
    ))
}

/// The tarball is an image archive that carries `reference` (an OCI
/// `ref.name` that is only a tag matches on the tag).
pub fn check_image(path: &Path, reference: &str) -> Result<(), String> {
    let refs = image_refs(path)?;
    let want = normalize_ref(reference);
    let tag = reference.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
    let ok = refs
        .iter()
        .any(|r| normalize_ref(r) == want || (!r.contains(':') && !r.contains('/') && r == tag));
    if ok {
        Ok(())
    } else if refs.is_empty() {
        Err(format!(
            "{} carries no image name; save it with its name: docker save {reference} -o {}",
            path.display(),
            path.display()
        ))
    } else {
        Err(format!(
            "{} holds {} instead of {reference}",
            path.display(),
            refs.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_normalize() {
        assert_eq!(normalize_ref("registry:2"), "docker.io/library/registry:2");
        assert_eq!(
            normalize_ref("calico/node:v3.8.4"),
            "docker.io/calico/node:v3.8.4"
        );
        assert_eq!(
            normalize_ref("docker.io/calico/node:v3.8.4"),
            "docker.io/calico/node:v3.8.4"
        );
        assert_eq!(
            normalize_ref("k8s.gcr.io/pause:3.1"),
            "k8s.gcr.io/pause:3.1"
        );
        assert_eq!(
            normalize_ref("localhost:5000/pause:3.1"),
            "localhost:5000/pause:3.1"
        );
    }
}
