//! `manifest.json`: every file of the bundle with its SHA-256, size, kind,
//! version and the roles/hosts that need it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::needs::Kind;

pub const MANIFEST: &str = "manifest.json";
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of this file.
    pub format: u32,
    /// `ksinstall <version>` that wrote it.
    pub generator: String,
    pub arch: String,
    pub kube_version: String,
    /// Package families built: `deb`, `rpm`.
    pub families: Vec<String>,
    pub artifacts: Vec<Entry>,
    /// Generated repository indexes (`debs/Packages`, ...).
    #[serde(default)]
    pub index: Vec<IndexFile>,
    /// What the operator should know (unresolved dependencies, unverified downloads, no rpm index).
    #[serde(default)]
    pub notes: Vec<String>,
    /// What the plan needed and the bundle lacks (built with `--allow-missing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub kind: Kind,
    /// Package name, binary name, or full image reference.
    pub name: String,
    /// Package version, binary release, image tag.
    pub version: String,
    /// Relative to the bundle root, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    /// Roles whose hosts need it (`master`, `worker`, `etcd`, `registry`).
    pub roles: Vec<String>,
    /// Inventory names of the hosts that need it, when built.
    pub hosts: Vec<String>,
    /// Packages: the bundle packages this one depends on directly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<String>,
    /// Packages only in the bundle as a dependency: the packages that pulled them in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependency_of: Vec<String>,
    /// `--from` file, download address, or `apt-get download`.
    pub source: String,
    /// Not from the plan: an image added with `--extra-image`, for `hosts`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extra: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexFile {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Manifest, String> {
        let p = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&p).map_err(|e| {
            format!(
                "{}: {e} (not a bundle, or its build did not finish)",
                p.display()
            )
        })?;
        let m: Manifest =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
        if m.format != FORMAT {
            return Err(format!(
                "{}: format {} is not the one this ksinstall reads ({FORMAT})",
                p.display(),
                m.format
            ));
        }
        Ok(m)
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).expect("manifest serialises");
        std::fs::write(dir.join(MANIFEST), text + "\n")
    }

    /// The entry for a package / binary / image, by kind and name (and
    /// version, unless `version` is empty).
    pub fn find(&self, kind: Kind, name: &str, version: &str) -> Option<&Entry> {
        self.artifacts.iter().find(|e| {
            e.kind == kind && e.name == name && (version.is_empty() || e.version == version)
        })
    }

    pub fn total_size(&self) -> u64 {
        self.artifacts.iter().map(|e| e.size).sum()
    }
}
