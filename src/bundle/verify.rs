//! `bundle verify`: every file against `manifest.json`, the apt index
//! against the packages, and (given a cluster) the plan against the bundle.
//! Everything wrong is reported at once, kubeadm style.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use rayon::prelude::*;

use super::aptrepo;
use super::hash;
use super::manifest::Manifest;
use super::needs::{self, Family, Kind, PlanOptions};
use crate::diag::{Diagnostic, Report};
use crate::model::Cluster;

#[derive(Debug, Default)]
pub struct Verified {
    pub report: Report,
    pub files: usize,
    pub bytes: u64,
    pub packages: usize,
    /// Needs checked against the cluster (0 without one).
    pub needs: usize,
}

/// A relative path with no `..`, `.` or root: stays inside the bundle.
pub fn safe_rel(p: &str) -> bool {
    let path = Path::new(p);
    !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)))
}

/// `dir/rel` when, with every symlink resolved, it is still inside `dir`:
/// a bundle's `bin/kubeadm -> /etc/passwd` (or a linked directory) would
/// otherwise push a file of the build machine to every host.
pub fn inside(dir: &Path, rel: &str) -> Result<std::path::PathBuf, String> {
    let path = dir.join(rel);
    let real = path
        .canonicalize()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let root = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(format!(
            "{rel} leads out of the bundle (to {}): bundles hold files, not links out",
            real.display()
        ))
    }
}

pub fn verify(dir: &Path, cluster: Option<&Cluster>) -> Verified {
    let mut v = Verified::default();
    let m = match Manifest::read(dir) {
        Ok(m) => m,
        Err(e) => {
            v.report.push(Diagnostic::error("BundleManifest", e));
            return v;
        }
    };
    if !m.missing.is_empty() {
        v.report.push(Diagnostic::warning(
            "BundleIncomplete",
            format!(
                "built with --allow-missing; it lacks {} artifact(s): {}",
                m.missing.len(),
                m.missing
                    .iter()
                    .map(|s| s.split(" (").next().unwrap_or(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    for n in &m.notes {
        v.report.push(Diagnostic::warning("BundleNote", n.clone()));
    }
    // Files: present, same size, same digest. Hashing runs in parallel.
    let mut listed: Vec<(String, String, u64)> = m
        .artifacts
        .iter()
        .map(|a| (a.path.clone(), a.sha256.clone(), a.size))
        .collect();
    listed.extend(
        m.index
            .iter()
            .map(|i| (i.path.clone(), i.sha256.clone(), i.size)),
    );
    let results: Vec<Option<Diagnostic>> = listed
        .par_iter()
        .map(|(rel, sha, size)| {
            if !safe_rel(rel) {
                return Some(Diagnostic::error(
                    "BundleManifest",
                    format!("{rel:?}: not a path inside the bundle"),
                ));
            }
            let path = match inside(dir, rel) {
                Ok(p) => p,
                Err(e) if e.contains("leads out") => {
                    return Some(Diagnostic::error("BundleLink", e));
                }
                Err(_) => dir.join(rel),
            };
            match hash::file_sha256(&path) {
                Err(e) => Some(Diagnostic::error(
                    "BundleFile",
                    format!("{rel} is in manifest.json but cannot be read: {e}"),
                )),
                Ok((have, n)) if have != *sha || n != *size => Some(Diagnostic::error(
                    "BundleChecksum",
                    format!("{rel}: sha256 {have} ({n} bytes), manifest.json says {sha} ({size} bytes): the file was changed or damaged"),
                )),
                Ok(_) => None,
            }
        })
        .collect();
    for d in results.into_iter().flatten() {
        v.report.push(d);
    }
    v.files = listed.len();
    v.bytes = listed.iter().map(|l| l.2).sum();

    // Files the manifest does not know.
    let known: BTreeSet<&str> = listed.iter().map(|l| l.0.as_str()).collect();
    for k in [Kind::Deb, Kind::Rpm, Kind::Binary, Kind::Image] {
        let mut extra = Vec::new();
        walk(&dir.join(k.dir()), k.dir(), &mut |rel| {
            if !known.contains(rel) {
                extra.push(rel.to_string());
            }
        });
        for rel in extra {
            v.report.push(Diagnostic::warning(
                "BundleExtra",
                format!("{rel} is not in manifest.json: it is not installed from this bundle"),
            ));
        }
    }

    // The apt index.
    let debs: Vec<_> = m.artifacts.iter().filter(|a| a.kind == Kind::Deb).collect();
    v.packages = debs.len();
    if !debs.is_empty() {
        let ddir = dir.join(Kind::Deb.dir());
        for e in aptrepo::check_index(&ddir) {
            v.report
                .push(Diagnostic::error("AptIndex", format!("debs/{e}")));
        }
        if let Ok(stanzas) = aptrepo::read_packages(&ddir) {
            let indexed: BTreeSet<String> = stanzas
                .iter()
                .filter_map(|p| p.get("Filename"))
                .map(|f| format!("debs/{}", f.trim_start_matches("./")))
                .collect();
            for d in &debs {
                if !indexed.contains(&d.path) {
                    v.report.push(Diagnostic::error(
                        "AptIndex",
                        format!(
                            "{} ({}) is in manifest.json but not in debs/Packages",
                            d.path, d.name
                        ),
                    ));
                }
            }
        }
    }

    // The plan.
    if let Some(c) = cluster {
        let families = m
            .families
            .iter()
            .filter_map(|f| match f.as_str() {
                "deb" => Some(Family::Deb),
                "rpm" => Some(Family::Rpm),
                _ => None,
            })
            .collect();
        let opts = PlanOptions {
            families,
            arch: m.arch.clone(),
            ..PlanOptions::default()
        };
        match needs::plan(c, &opts) {
            Err(e) => v.report.push(Diagnostic::error("BundlePlan", e)),
            Ok(plan) => {
                if plan.versions.kube != m.kube_version {
                    v.report.push(Diagnostic::warning(
                        "BundleVersion",
                        format!(
                            "the bundle was built for Kubernetes {}, the cluster asks for {}",
                            m.kube_version, plan.versions.kube
                        ),
                    ));
                }
                v.needs = plan.needs.len();
                for need in &plan.needs {
                    let version = match need.kind {
                        Kind::Deb | Kind::Rpm => "",
                        _ => need.version.as_str(),
                    };
                    if m.find(need.kind, &need.name, version).is_none() {
                        v.report.push(Diagnostic::error(
                            "BundleMissing",
                            format!("{}: not in {}", need.describe(), dir.display()),
                        ));
                    }
                }
            }
        }
    }
    v
}

fn walk(dir: &Path, rel: &str, f: &mut dyn FnMut(&str)) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = format!("{rel}/{name}");
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&e.path(), &r, f);
        } else {
            f(&r);
        }
    }
}
